"""Router migrations carry old data over, on SQLite and on PostgreSQL. router_0002: reps get
the eligible-at-once defaults, each assignment becomes the lead's routing state plus its
first assignment, and the default pool exists. router_0005: a team keeps its holidays and
takes no country's until a manager names one. router_0007: the rules and pools there are
get a first version each. router_0013: each rep's open leads are counted into their stored
load, and the triggers that keep it are in place."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, select, text, update

from router import repository
from router.models import assignments, config_versions, leads, pools, reps, teams
from router.records import TeamRecord, parsed
from services.clock import ManualClock
from services.db import Database, ReadConn, UnitOfWork
from services.migrate import upgrade
from tests import infra
from tests.scenarios.router import MIGRATIONS, lead_row, stored_and_counted

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


def _to_revision(connection: Connection, schema: str | None, revision: str) -> None:
    if schema:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    config.attributes["version_table"] = "alembic_version" if schema else "alembic_version_router"
    command.upgrade(config, revision)


async def test_router_0002_carries_router_0001_data(database_url: str) -> None:
    database = Database(database_url, service="router")
    schema = None if database.is_sqlite else "router"
    try:
        async with database.engine.connect() as conn:
            await conn.run_sync(_to_revision, schema, "router_0001")
            await conn.commit()
            await conn.execute(
                text(
                    "INSERT INTO router_reps (id, name, email, weight, active, created_at) "
                    "VALUES ('ana', 'Ana', 'ana@example.com', 2, true, :t)"
                ),
                {"t": T0},
            )
            await conn.execute(
                text(
                    "INSERT INTO router_assignments (id, lead_id, rep_id, status, pool, rule, "
                    "first_touch_due_at, touched_at, created_at) VALUES "
                    "('a1', 'lead-1', 'ana', 'assigned', 'everyone', 'default', :due, :t, :t), "
                    "('a2', 'lead-2', NULL, 'queued', 'fallback', 'default', NULL, NULL, :t)"
                ),
                {"t": T0, "due": T0.replace(minute=5)},
            )
            await conn.commit()

        await upgrade(database, {"router": MIGRATIONS})

        async with database.connect() as conn:
            rep = (await conn.execute(select(reps))).one()
            by_lead = {r.lead_id: r for r in (await conn.execute(select(leads))).all()}
            (first,) = (await conn.execute(select(assignments))).all()
            pool_ids = (await conn.execute(select(pools.c.id))).scalars().all()
    finally:
        await database.dispose()
    assert (rep.weight, rep.time_zone, rep.languages, rep.out_of_office) == (2, "UTC", [], [])
    assert rep.working_hours["mon"] == ["09:00-17:00"]
    assert "sat" not in rep.working_hours
    assert by_lead["lead-1"].status == "assigned"
    assert by_lead["lead-1"].assignment_id == "a1"
    assert by_lead["lead-2"].status == "queued"
    assert by_lead["lead-2"].queue == "fallback"
    assert (first.id, first.lead_id, first.rep_id, first.first_touch) == (
        "a1",
        "lead-1",
        "ana",
        "met",
    )
    assert first.first_touch_due_at == T0.replace(minute=5)
    assert pool_ids == ["everyone"]


async def test_router_0005_keeps_a_teams_holidays_and_names_no_country(database_url: str) -> None:
    database = Database(database_url, service="router")
    schema = None if database.is_sqlite else "router"
    try:
        async with database.engine.connect() as conn:
            await conn.run_sync(_to_revision, schema, "router_0004")
            await conn.commit()
            await conn.execute(
                text(
                    "INSERT INTO router_teams (id, name, holidays, created_at, updated_at) "
                    "VALUES ('dach', 'DACH', :holidays, :t, :t)"
                ),
                {"t": T0, "holidays": '[{"date": "2026-12-25", "name": "Christmas"}]'},
            )
            await conn.commit()

        await upgrade(database, {"router": MIGRATIONS})

        async with database.connect() as conn:
            row = (await conn.execute(select(teams))).one()
    finally:
        await database.dispose()
    team = parsed(TeamRecord, dict(row._mapping))
    assert (team.country, team.subdivision, team.worked_holidays) == (None, None, [])
    assert [(h.date.isoformat(), h.name) for h in team.holidays] == [("2026-12-25", "Christmas")]
    assert date(2026, 12, 25) in team.days_off()
    assert date(2026, 7, 3) not in team.days_off()


async def test_router_0007_gives_existing_rules_and_pools_a_first_version(
    database_url: str,
) -> None:
    database = Database(database_url, service="router")
    schema = None if database.is_sqlite else "router"
    try:
        async with database.engine.connect() as conn:
            await conn.run_sync(_to_revision, schema, "router_0006")
            await conn.commit()
            await conn.execute(
                text(
                    "INSERT INTO router_rules (id, name, position, conditions, pool, enabled, "
                    "created_at, updated_at) VALUES ('dach', 'DACH', 10, :conditions, "
                    "'everyone', true, :t, :t)"
                ),
                {"t": T0, "conditions": '{"countries": ["DE"], "regions": null}'},
            )
            await conn.commit()

        await upgrade(database, {"router": MIGRATIONS})

        async with database.connect() as conn:
            rows = (
                await conn.execute(select(config_versions).order_by(config_versions.c.version))
            ).all()
            now = await repository.versions.config_as_of(ReadConn(conn), "rule", rows[-1].version)
    finally:
        await database.dispose()
    assert [(r.kind, r.object_id, r.action, r.changed_by) for r in rows] == [
        ("pool", "everyone", "created", "migration"),
        ("rule", "dach", "created", "migration"),
    ]
    assert rows[1].state == {
        "name": "DACH",
        "position": 10,
        "conditions": {"countries": ["DE"], "regions": None},
        "pool": "everyone",
        "enabled": True,
    }
    assert list(now) == ["dach"]


async def test_router_0013_counts_the_leads_already_open(database_url: str) -> None:
    database = Database(database_url, service="router")
    schema = None if database.is_sqlite else "router"
    try:
        async with database.engine.connect() as conn:
            await conn.run_sync(_to_revision, schema, "router_0011")
            await conn.commit()
            await conn.execute(
                leads.insert(),
                [
                    lead_row("l1", "assigned", "ana"),
                    lead_row("l2", "accepted", "ana"),
                    lead_row("l3", "opportunity", "ana"),
                    lead_row("l4", "assigned", "bo"),
                    lead_row("l5", "queued", None),
                ],
            )
            await conn.commit()
        await upgrade(database, {"router": MIGRATIONS})
        unit = UnitOfWork(database, "router", ManualClock(T0), "migrated")
        stored, counted = await stored_and_counted(unit)
        assert stored == counted == {"ana": 2, "bo": 1}
        async with unit.transaction() as tx:  # and the triggers are in place
            await tx.conn.execute(
                update(leads).where(leads.c.lead_id == "l5").values(status="assigned", rep_id="bo")
            )
        assert (await stored_and_counted(unit))[0] == {"ana": 2, "bo": 2}
    finally:
        await database.dispose()
