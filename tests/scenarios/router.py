"""The router on a migrated SQLite database with a manual clock: its service driven
directly, without the bus or HTTP, so that thousands of decisions take seconds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

import router as router_package
from contracts.events import Decision, LeadProfile, LeadQualified, make_envelope
from router import repository
from router.config import ROUTING
from router.config import load as load_routing_config
from router.records import Changer, LeadRecord, NewActivity, parsed
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

TESTS = Changer("tests", "the test world")
MIGRATIONS = Path(router_package.__file__).parent / "migrations"


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
