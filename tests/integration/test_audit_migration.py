"""audit_0004 fills the email-and-company lookup from the archive of an audit_0003 database,
on SQLite and on PostgreSQL: the latest profile's values win, and an erased or redacted
lead is left out (it must not become findable by its old email)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, MetaData, Table, select, text

import audit
from audit.models import erasures, events, lead_contacts
from services.db import Database
from services.migrate import upgrade
from tests import infra

MIGRATIONS = Path(audit.__file__).parent / "migrations"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    infra.require_postgres()
    scratch = infra.create_database()
    try:
        yield scratch.url
    finally:
        infra.drop_database(scratch)


def _to_0003(connection: Connection, schema: str | None) -> None:
    if schema:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    config.attributes["version_table"] = "alembic_version" if schema else "alembic_version_audit"
    command.upgrade(config, "audit_0003")


def in_schema(table: Table, schema: str | None) -> Table:
    """The table as it lies in `schema` (a copy in a metadata of its own)."""
    return table.to_metadata(MetaData(), schema=schema) if schema else table


def event(n: int, lead_id: str, kind: str, minutes: int, **profile: Any) -> dict[str, Any]:
    at = T0 + timedelta(minutes=minutes)
    return {
        "event_id": f"e{n}",
        "lead_id": lead_id,
        "type": f"leadfarm.lead.{kind}.v1",
        "source": "/leadfarm/ingest",
        "time": at,
        "envelope": {"data": {"lead_id": lead_id, "lead": {"source": "web", **profile}}},
        "recorded_at": at,
        "redacted_at": None,
    }


async def test_audit_0004_finds_the_leads_archived_before(database_url: str) -> None:
    database = Database(database_url, service="audit")
    schema = None if database.is_sqlite else "audit"
    try:
        async with database.engine.connect() as conn:
            await conn.run_sync(_to_0003, schema)
            await conn.commit()
            table = in_schema(events, schema)
            rows = [
                event(1, "lead-1", "captured", 0, email="Jo@Acme.example", company="Acme"),
                event(2, "lead-1", "qualified", 1, email="Jo@Acme.example"),
                event(3, "lead-1", "merged", 2, company="Acme Timber"),
                event(4, "lead-2", "captured", 3, email="gone@example.com", company="Gone Ltd"),
                {**event(5, "lead-3", "captured", 4, email="x@example.com"), "redacted_at": T0},
                event(6, "lead-4", "disqualified", 5, email="not-a-profile-event@example.com"),
            ]
            await conn.execute(table.insert(), rows)
            await conn.execute(
                in_schema(erasures, schema)
                .insert()
                .values(lead_id="lead-2", requested_by="k", requested_at=T0, events_redacted=0)
            )
            await conn.commit()

        await upgrade(database, {"audit": MIGRATIONS})

        async with database.connect() as conn:
            found = (await conn.execute(select(lead_contacts))).all()
    finally:
        await database.dispose()
    assert [tuple(r) for r in found] == [
        ("lead-1", "jo@acme.example", "Acme Timber", "acme timber")
    ]
