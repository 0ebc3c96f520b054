"""Alembic migrations, run programmatically: the chassis tables, the `auth` schema and each
service's own tables are separate migration streams.

On PostgreSQL every service has its own schema holding its tables, its copy of the chassis
tables and its own version tables; `auth` has its own. On SQLite everything shares the one
file and each stream has its own version table. A PostgreSQL advisory lock lets several
replicas start at once without racing each other's DDL.

Migration scripts get their target schema from `target_schema()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, text

from contracts.topics import ServiceName
from services.db import Database

CHASSIS_MIGRATIONS = Path(__file__).parent / "migrations" / "chassis"
AUTH_MIGRATIONS = Path(__file__).parent / "migrations" / "auth"
_MIGRATION_LOCK = 7_411_000_001


@dataclass(frozen=True)
class Stream:
    name: str
    location: Path
    schema: str | None
    version_table: str


def streams_for(db: Database, services: dict[ServiceName, Path]) -> list[Stream]:
    if db.is_sqlite:
        out = [
            Stream("chassis", CHASSIS_MIGRATIONS, None, "alembic_version_chassis"),
            Stream("auth", AUTH_MIGRATIONS, None, "alembic_version_auth"),
        ]
        out += [Stream(s, p, None, f"alembic_version_{s}") for s, p in services.items()]
        return out
    out = [Stream("auth", AUTH_MIGRATIONS, "auth", "alembic_version")]
    for service, path in services.items():
        out.append(Stream("chassis", CHASSIS_MIGRATIONS, service, "alembic_version_chassis"))
        out.append(Stream(service, path, service, "alembic_version"))
    return out


async def upgrade(db: Database, services: dict[ServiceName, Path]) -> None:
    """Bring every stream for `services` (plus chassis and auth) to its head."""
    async with db.write_lock(), db.engine.connect() as conn:
        if not db.is_sqlite:
            await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK})
            await conn.commit()
        try:
            for stream in streams_for(db, services):
                await conn.run_sync(_upgrade_stream, stream)
                await conn.commit()
        finally:
            if not db.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK})
                await conn.commit()


def _upgrade_stream(connection: Connection, stream: Stream) -> None:
    if stream.schema:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{stream.schema}"'))
    config = Config()
    config.set_main_option("script_location", str(stream.location))
    config.attributes["connection"] = connection
    config.attributes["schema"] = stream.schema
    config.attributes["version_table"] = stream.version_table
    command.upgrade(config, "head")


def target_schema() -> str | None:
    """The schema the running migration writes to (None on SQLite)."""
    schema: str | None = context.config.attributes.get("schema")
    return schema


def run_env() -> None:
    """The body of every stream's env.py."""
    attributes: dict[str, Any] = context.config.attributes
    connection: Connection = attributes["connection"]
    context.configure(
        connection=connection,
        version_table=attributes["version_table"],
        version_table_schema=attributes["schema"],
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
