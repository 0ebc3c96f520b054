"""The router on a migrated SQLite database with a manual clock: its service driven
directly, without the bus or HTTP, so that thousands of decisions take seconds. Also the
router's unit of work on either database, for repository tests that run on both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

import router as router_package
from contracts.events import Decision, LeadProfile, LeadQualified, make_envelope
from router import repository
from router.config import ROUTING
from router.config import load as load_routing_config
from router.models import leads, rep_loads
from router.records import OPEN_STATUSES, Changer, LeadRecord, NewActivity, parsed
from router.schemas.leads import AssignmentOut
from router.schemas.pools import PoolIn, RuleIn
from router.schemas.reps import RepIn
from router.service import Router
from router.settings import RouterSettings
from router.sla import CADENCE_END, FIRST_TOUCH, HELD
from router.webhooks import Announcer
from services.clock import ManualClock
from services.consumer import Incoming
from services.db import Database, UnitOfWork
from services.migrate import upgrade
from services.reference import Reference
from services.tables import outbox
from services.timers import TimerRunner
from tests import infra
from tests.scenarios.services import pg_unit

TESTS = Changer("tests", "the test world")
MIGRATIONS = Path(router_package.__file__).parent / "migrations"
BOTH_DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
"""A fixture's params for `router_unit`: the test runs on SQLite and on PostgreSQL."""


@asynccontextmanager
async def router_unit(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[UnitOfWork]:
    """The router's unit of work on a migrated database: SQLite, or this test's own
    PostgreSQL database (`request.param`, one of `BOTH_DATABASES`)."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'router.db'}")
        await upgrade(database, {"router": MIGRATIONS})
        try:
            yield UnitOfWork(database, "router", clock, "t")
        finally:
            await database.dispose()
    else:
        scratch: infra.ScratchDatabase = request.getfixturevalue("pg_database")
        async with pg_unit(scratch.url, "router", clock, "t") as unit:
            yield unit


def lead_row(lead_id: str, status: str, rep_id: str | None) -> dict[str, Any]:
    """A `router_leads` row with only what the tests of rep loads look at."""
    now = datetime(2026, 12, 6, 15, tzinfo=UTC)
    return {
        "lead_id": lead_id,
        "profile": {},
        "status": status,
        "rep_id": rep_id,
        "reassignments": 0,
        "created_at": now,
        "updated_at": now,
    }


def connector_row(connector_id: str, now: datetime) -> dict[str, Any]:
    """An active `webhook` connector as stored (credentials not opened by these tests)."""
    return {
        "id": connector_id,
        "kind": "webhook",
        "settings": {},
        "credentials": "sealed",
        "active": True,
        "created_at": now,
        "updated_at": now,
    }


async def stored_and_counted(unit: UnitOfWork) -> tuple[dict[str, int], dict[str, int]]:
    """Each rep's stored open leads (`router_rep_loads`, non-zero ones) and a count of
    their open leads: the triggers keep the two equal."""
    async with unit.read() as conn:
        stored = {
            r.rep_id: r.open_leads
            for r in await conn.execute(select(rep_loads.c.rep_id, rep_loads.c.open_leads))
            if r.open_leads
        }
        counted = {
            r.rep_id: r.n
            for r in await conn.execute(
                select(leads.c.rep_id, func.count().label("n"))
                .where(leads.c.rep_id.is_not(None), leads.c.status.in_(OPEN_STATUSES))
                .group_by(leads.c.rep_id)
            )
        }
    return stored, counted


def qualified(lead_id: str, score: int, **profile: Any) -> Incoming[LeadQualified]:
    """A `lead.qualified` event as the router's consumer receives it."""
    data = LeadQualified(
        lead_id=lead_id,
        decision=Decision(
            lifecycle="prospect",
            stage="sales_qualified",
            term="short",
            score=score,
            definition_version="test",
        ),
        lead=LeadProfile(source="website", **profile),
    )
    return Incoming(make_envelope(data, time=datetime.now(UTC)), data)


class World:
    def __init__(self, unit: UnitOfWork, clock: ManualClock, settings: RouterSettings) -> None:
        self.unit = unit
        self.clock = clock
        self.settings = settings
        routing = Reference(unit.service, ROUTING, load_routing_config)
        self.router = Router(settings, Announcer(settings, routing), routing)
        self.timers = TimerRunner(
            unit,
            {
                FIRST_TOUCH: self.router.on_first_touch_due,
                CADENCE_END: self.router.on_cadence_due,
                HELD: self.router.on_held_due,
            },
            poll_interval_s=3600,
        )

    def advance(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))

    async def rep(self, rep_id: str, **fields: Any) -> None:
        body = RepIn(id=rep_id, name=rep_id.title(), email=f"{rep_id}@example.com", **fields)
        async with self.unit.transaction() as tx:
            now = tx.now()
            values = body.model_dump(mode="json", exclude={"id"})
            await repository.reps.insert_rep(
                tx, {**values, "id": rep_id, "created_at": now, "updated_at": now}
            )

    async def update_rep(self, rep_id: str, **values: Any) -> None:
        async with self.unit.transaction() as tx:
            await repository.reps.update_rep(tx, rep_id, values)

    async def pool(self, pool_id: str, **fields: Any) -> None:
        body = PoolIn(**fields)
        async with self.unit.transaction() as tx:
            await repository.pools.upsert_pool(
                tx, pool_id, {**body.model_dump(mode="json"), "name": pool_id}, by=TESTS
            )

    async def rule(self, rule_id: str, **fields: Any) -> None:
        body = RuleIn(**fields)
        async with self.unit.transaction() as tx:
            await repository.rules.upsert_rule(
                tx,
                rule_id,
                {**body.model_dump(mode="json", exclude_none=True), "name": rule_id},
                by=TESTS,
            )

    async def qualify(self, score: int = 80, lead_id: str | None = None, **profile: Any) -> str:
        lead_id = lead_id or str(uuid.uuid4())
        async with self.unit.transaction() as tx:
            await self.router.on_qualified(tx, [qualified(lead_id, score, **profile)])
        return lead_id

    async def qualify_together(self, *leads: tuple[str, dict[str, Any]], score: int = 80) -> None:
        """Several qualified leads handed to the router as one batch."""
        async with self.unit.transaction() as tx:
            await self.router.on_qualified(
                tx, [qualified(lead_id, score, **profile) for lead_id, profile in leads]
            )

    async def lead(self, lead_id: str) -> LeadRecord:
        async with self.unit.read() as conn:
            lead = await repository.leads.get_lead(conn, lead_id)
        assert lead is not None
        return lead

    async def view(self, lead_id: str) -> AssignmentOut:
        async with self.unit.read() as conn:
            return AssignmentOut.of(await self.router.view(conn, await self.lead(lead_id)))

    async def log(self, lead_id: str, channel: str, outcome: str) -> None:
        body = parsed(NewActivity, {"channel": channel, "outcome": outcome})
        async with self.unit.transaction() as tx:
            lead = await repository.leads.get_lead(tx, lead_id)
            assert lead is not None
            await self.router.log_activity(tx, lead, body, None)

    async def events(self, *types: str) -> list[dict[str, Any]]:
        """What the router said, oldest first (only `types`, when given)."""
        async with self.unit.read() as conn:
            rows = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))).all()
        said = [orjson.loads(r.payload) for r in rows]
        wanted = {f"leadfarm.{t}.v1" for t in types}
        return [e for e in said if not wanted or e["type"] in wanted]

    async def count(self, table: Any) -> int:
        async with self.unit.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


@asynccontextmanager
async def world_at(tmp_path: Path, **settings: Any) -> AsyncIterator[World]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'router.db'}")
    await upgrade(database, {"router": MIGRATIONS})
    clock = ManualClock()
    try:
        yield World(UnitOfWork(database, "router", clock, "t"), clock, RouterSettings(**settings))
    finally:
        await database.dispose()
