"""The erasure tombstones move into the chassis's `tombstones` (chassis_0003, then
ingest_0005, qualifier_0006, router_0012 and nurture_0005), on SQLite and on PostgreSQL:
upgrading a database whose services kept them in `<service>_erased` keeps every one of
them, each service still finds its own (and only its own) erased leads, and stepping a
service's migration back gives it its table and rows again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.command import downgrade as down
from alembic.command import upgrade as up
from alembic.config import Config
from sqlalchemy import Connection, select, text

from contracts.topics import ServiceName
from services.clock import SystemClock
from services.db import Database, UnitOfWork
from services.erasure import tombstoned_among
from services.migrate import CHASSIS_MIGRATIONS, upgrade
from services.migrations.tombstones import own_table
from services.tables import tombstones
from tests import infra

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).parents[2]
# Each service's last revision with a tombstone table of its own.
BEFORE: dict[ServiceName, str] = {
    "ingest": "ingest_0004",
    "qualifier": "qualifier_0005",
    "router": "router_0011",
    "nurture": "nurture_0004",
}
SERVICES = list(BEFORE)


def _migrations(service: str) -> Path:
    return ROOT / service / "migrations"


def _old_rows(service: str) -> list[dict[str, object]]:
    """Two leads of the service's own, and one every service erased (under its own id)."""
    return [
        {"lead_id": f"{service}-1", "erasure_id": f"e-{service}-1", "erased_at": T0},
        {
            "lead_id": f"{service}-2",
            "erasure_id": f"e-{service}-2",
            "erased_at": T0 + timedelta(minutes=1),
        },
        {"lead_id": "everyone", "erasure_id": f"e-{service}-0", "erased_at": T0},
    ]


def _alembic(
    step: Callable[[Config, str], None],
    connection: Connection,
    stream: Path,
    schema: str | None,
    version_table: str,
    revision: str,
) -> None:
    """Move one stream up or down to `revision`."""
    if schema:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    config = Config()
    config.set_main_option("script_location", str(stream))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    config.attributes["version_table"] = version_table
    step(config, revision)


def _version_table(service: str, sqlite: bool) -> str:
    return f"alembic_version_{service}" if sqlite else "alembic_version"


def _old_database(connection: Connection, sqlite: bool) -> None:
    """The chassis and the four services as they were before the move, with tombstones:
    on SQLite one chassis in the one file, on PostgreSQL one in each service's schema."""
    chassis = "alembic_version_chassis", "chassis_0002"
    if sqlite:
        _alembic(up, connection, CHASSIS_MIGRATIONS, None, *chassis)
    for service, revision in BEFORE.items():
        schema = None if sqlite else service
        if not sqlite:
            _alembic(up, connection, CHASSIS_MIGRATIONS, schema, *chassis)
        version_table = _version_table(service, sqlite)
        _alembic(up, connection, _migrations(service), schema, version_table, revision)
        connection.execute(own_table(service, schema).insert(), _old_rows(service))


async def _upgraded(database: Database) -> None:
    """The old database, then `upgrade` as a service's start runs it."""
    async with database.engine.connect() as conn:
        await conn.run_sync(_old_database, database.is_sqlite)
        await conn.commit()
    await upgrade(database, {s: _migrations(s) for s in SERVICES})


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


async def test_upgrading_keeps_every_services_tombstones(database_url: str) -> None:
    database = Database(database_url)
    sqlite = database.is_sqlite
    try:
        await _upgraded(database)
        async with database.engine.connect() as conn:
            names = await conn.run_sync(
                lambda c: {
                    s: set(sa.inspect(c).get_table_names(schema=None if sqlite else s))
                    for s in SERVICES
                }
            )
    finally:
        await database.dispose()
    for service in SERVICES:
        assert "tombstones" in names[service]
        assert f"{service}_erased" not in names[service]

    for service in SERVICES:
        own = Database(database_url, service=service)
        try:
            async with own.connect() as conn:
                rows = (
                    await conn.execute(select(tombstones).where(tombstones.c.service == service))
                ).all()
            unit = UnitOfWork(own, service, SystemClock(), "tombstones")
            others = [f"{other}-1" for other in SERVICES if other != service]
            async with unit.transaction() as tx:
                found = await tombstoned_among(
                    tx, ["everyone", f"{service}-1", f"{service}-2", "never", *others]
                )
        finally:
            await own.dispose()
        assert sorted((r.lead_id, r.erasure_id, r.erased_at) for r in rows) == sorted(
            (r["lead_id"], r["erasure_id"], r["erased_at"]) for r in _old_rows(service)
        )
        # Each service finds its own: another's erased lead is not its tombstone.
        assert found == {"everyone", f"{service}-1", f"{service}-2"}


async def test_a_service_stepped_back_gets_its_own_tombstones_again(database_url: str) -> None:
    database = Database(database_url)
    sqlite = database.is_sqlite

    def step_back(connection: Connection) -> tuple[list[tuple[str, str]], set[str]]:
        schema = None if sqlite else "router"
        version_table = _version_table("router", sqlite)
        _alembic(down, connection, _migrations("router"), schema, version_table, "router_0011")
        own = own_table("router", schema)
        chassis = sa.table("tombstones", sa.column("service"), schema=schema)
        back = [(r.lead_id, r.erasure_id) for r in connection.execute(select(own))]
        left = {r.service for r in connection.execute(select(chassis.c.service))}
        return back, left

    try:
        await _upgraded(database)
        async with database.engine.connect() as conn:
            back, left = await conn.run_sync(step_back)
            await conn.commit()
    finally:
        await database.dispose()
    assert sorted(back) == sorted((r["lead_id"], r["erasure_id"]) for r in _old_rows("router"))
    # The router's rows left the chassis table; on SQLite the others' stay.
    assert left == ({"ingest", "qualifier", "nurture"} if sqlite else set())
