"""The qualifier's batch handler: a run of lead events decided together gives exactly what
one event at a time gives, at a cost in statements that does not grow with the run, on
SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from sqlalchemy import select

from contracts.events import (
    ErasureRequested,
    EventData,
    LeadCaptured,
    LeadMerged,
    LeadProfile,
    LeadRecycled,
    make_envelope,
)
from contracts.topics import topic_for
from qualifier.models import decisions, leads
from services import metrics
from services.bus.base import Message
from services.clock import ManualClock
from services.consumer import BatchHandler, ConsumerRunner, Incoming
from services.db import Database, Tx, UnitOfWork
from services.migrate import upgrade
from services.spec import ServiceSpec
from services.tables import outbox
from tests import infra
from tests.backends import leadfarm_test_settings

NAMESPACE = "t"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Qualifier:
    unit: UnitOfWork
    spec: ServiceSpec
    runner: ConsumerRunner
    runs: list[int]
    """The size of each run the batch handler was given."""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'qualifier.db'}")
        await upgrade(database, {"qualifier": Path(__file__).parents[3] / "qualifier/migrations"})
    else:
        scratch: infra.ScratchDatabase = request.getfixturevalue("pg_database")
        database = Database(scratch.url, service="qualifier")
    yield database
    await database.dispose()


@pytest.fixture
def qualifier(database: Database) -> Qualifier:
    import qualifier

    unit = UnitOfWork(database, "qualifier", ManualClock(NOW), NAMESPACE)
    spec = qualifier.build(unit, leadfarm_test_settings(topic_namespace=NAMESPACE))
    runs: list[int] = []
    handlers = cast(dict[type[EventData], BatchHandler], spec.batch_handlers)
    wrapped: dict[BatchHandler, BatchHandler] = {}
    for event_type, handler in handlers.items():

        def counting(handler: BatchHandler) -> BatchHandler:
            async def counted(tx: Tx, events: Sequence[Incoming[Any]]) -> None:
                runs.append(len(events))
                await handler(tx, events)

            return counted

        handlers[event_type] = wrapped.setdefault(handler, counting(handler))
    runner = ConsumerRunner(
        unit,
        cast(Any, None),  # messages are handed to the runner directly
        spec.handlers,
        batch_handlers=spec.batch_handlers,
        group=spec.group(NAMESPACE),
        max_attempts=1,
        retry_backoff_s=0.001,
        batch_size=500,
    )
    return Qualifier(unit, spec, runner, runs)


def messages(events: Sequence[EventData]) -> list[Message]:
    return [
        Message(
            topic=topic_for(e.SERVICE, NAMESPACE),
            partition=0,
            offset=offset,
            key=e.lead_id,
            value=make_envelope(e, time=NOW).to_json(),
        )
        for offset, e in enumerate(events)
    ]


def profile(**fields: Any) -> LeadProfile:
    return LeadProfile.model_validate({"source": "website", **fields})


# Deferred (long-term), then sales-ready: qualified.
LATER = profile(email="kim@acme.example", company="Acme", country="DE", timeframe_days=200)
READY = profile(
    email="kim@acme.example",
    company="Acme",
    country="DE",
    timeframe_days=30,
    asked_to_be_contacted=True,
)
SILENT = READY.model_copy(update={"asked_to_be_contacted": False})
QUIET = profile(email="lee@acme.example", company="Acme", timeframe_days=30)


def story(prefix: str) -> list[EventData]:
    """Lead events whose decisions depend on the same lead's earlier ones in the run."""
    a, b, c, d = (f"{prefix}-{n}" for n in "abcd")

    def captured(lead_id: str, lead: LeadProfile) -> LeadCaptured:
        return LeadCaptured(lead_id=lead_id, delivery_id=f"{lead_id}-d", lead=lead)

    def merged(lead_id: str, lead: LeadProfile) -> LeadMerged:
        return LeadMerged(
            lead_id=lead_id, delivery_id=f"{lead_id}-m", matched_on="email", lead=lead
        )

    def recycled(lead_id: str, lead: LeadProfile, score: float, *types: str) -> LeadRecycled:
        engagements = [{"type": t} for t in types]
        return LeadRecycled(
            lead_id=lead_id, reason="r", engagement_score=score, engagements=engagements, lead=lead
        )

    return [
        captured(a, LATER),  # deferred: said
        captured(b, READY),  # qualified: said
        merged(a, READY),  # deferred -> qualified: said
        captured(b, READY),  # a replayed capture, same outcome: nothing said
        merged(a, LATER),  # already qualified: stored, not decided
        captured(c, QUIET),  # deferred
        recycled(c, QUIET, 50),  # decided with the engagement, always said
        merged(c, QUIET),  # decided with the engagement stored just before: not said
        recycled(a, SILENT, 90, "hand_raise"),  # qualified again by a hand raise: said
        captured(d, READY),
        ErasureRequested(lead_id=d, erasure_id=f"{d}-e", requested_at=NOW),
        merged(d, LATER),  # about an erased lead: ignored
        merged(b, LATER),  # qualified: stored only
        recycled(b, LATER, 10),  # deferred now, said
        merged(b, READY),  # deferred -> qualified: said
    ]


async def what_was_stored(unit: UnitOfWork, prefix: str) -> dict[str, Any]:
    """Decisions, profiles and said events about the story's leads, with its prefix taken
    out (the two runs use other lead ids)."""
    async with unit.read() as conn:
        decided = (
            await conn.execute(
                select(decisions)
                .where(decisions.c.lead_id.startswith(prefix))
                .order_by(decisions.c.lead_id)
            )
        ).all()
        profiles = (
            await conn.execute(
                select(
                    leads.c.lead_id, leads.c.profile, leads.c.engagement_score, leads.c.engagements
                )
                .where(leads.c.lead_id.startswith(prefix))
                .order_by(leads.c.lead_id)
            )
        ).all()
        said = (
            await conn.execute(
                select(outbox.c.key, outbox.c.payload)
                .where(outbox.c.key.startswith(prefix))
                .order_by(outbox.c.id)
            )
        ).all()
    events = []
    for row in said:
        envelope = orjson.loads(row.payload)
        events.append((row.key, envelope["type"], envelope["data"]))
    stored = {
        "decisions": [
            {str(k): v for k, v in r._asdict().items() if k != "decided_at"} for r in decided
        ],
        "profiles": [tuple(r) for r in profiles],
        "events": events,
    }
    return cast(dict[str, Any], orjson.loads(orjson.dumps(stored).replace(prefix.encode(), b"L")))


async def test_a_run_decides_as_one_event_at_a_time_would(qualifier: Qualifier) -> None:
    together = messages(story("together"))
    assert await qualifier.runner.handle_together(together)
    lead_events = [m for m in together if b"erasure_requested" not in m.value]
    # Decided in two runs (the erasure request in between is handled on its own).
    assert qualifier.runs == [10, 4], "the lead events are handed to one batch handler per run"

    qualifier.runs.clear()
    for message in messages(story("alone")):
        await qualifier.runner.handle(message)
    assert qualifier.runs == [1] * len(lead_events)

    alone = await what_was_stored(qualifier.unit, "alone")
    assert await what_was_stored(qualifier.unit, "together") == alone
    said = [(key, kind.split(".")[2]) for key, kind, _ in alone["events"] if ".lead." in kind]
    assert said == [
        ("L-a", "deferred"),
        ("L-b", "qualified"),
        ("L-a", "qualified"),
        ("L-c", "deferred"),
        ("L-c", "deferred"),
        ("L-a", "qualified"),
        ("L-d", "qualified"),
        ("L-b", "deferred"),
        ("L-b", "qualified"),
    ]
    triggers = {d["lead_id"]: d["trigger"] for d in alone["decisions"]}
    assert triggers == {"L-a": "recycled", "L-b": "merged", "L-c": "merged", "L-d": "captured"}
    c = next(d for d in alone["decisions"] if d["lead_id"] == "L-c")
    assert any(x["name"] == "engagement" and x["matched"] for x in c["criteria"]), (
        "the merge was decided with the engagement recycled just before it"
    )


async def statements(qualifier: Qualifier, events: Sequence[EventData]) -> int:
    counter = metrics.DB_STATEMENTS.labels("qualifier")
    before = counter._value.get()
    assert await qualifier.runner.handle_together(messages(events))
    return int(counter._value.get() - before)


async def test_a_run_costs_the_same_statements_whatever_its_length(qualifier: Qualifier) -> None:
    def captured(prefix: str, n: int) -> list[EventData]:
        return [
            LeadCaptured(lead_id=f"{prefix}-{i}", delivery_id=f"{prefix}-{i}", lead=READY)
            for i in range(n)
        ]

    # Warm: the start-up definitions stored, then the reference data loaded.
    await statements(qualifier, captured("seed", 2))
    await statements(qualifier, captured("warm", 2))
    two = await statements(qualifier, captured("two", 2))
    many = await statements(qualifier, captured("many", 50))
    assert many == two, f"50 leads cost {many} statements, 2 cost {two}"
    assert qualifier.runs[-1] == 50


async def test_the_last_intent_signal_only_moves_forward(qualifier: Qualifier) -> None:
    """A form (captured, merged) or a hand raise is an intent signal at its event's time,
    capped at the qualifier's now; a replay of an older one and a recycle on the engagement
    score leave it; one at a time and in one run alike."""
    day = timedelta(days=1)

    def story(lead_id: str) -> list[tuple[EventData, datetime]]:
        def recycled(hand_raise: bool) -> LeadRecycled:
            return LeadRecycled(
                lead_id=lead_id,
                reason="r",
                engagement_score=30,
                lead=LATER,
                hand_raise=hand_raise,
            )

        return [
            (LeadCaptured(lead_id=lead_id, delivery_id="d1", lead=LATER), NOW - 20 * day),
            (LeadCaptured(lead_id=lead_id, delivery_id="d1", lead=LATER), NOW - 30 * day),
            (recycled(hand_raise=False), NOW - 5 * day),
            (recycled(hand_raise=True), NOW - 2 * day),
            (
                LeadMerged(lead_id=lead_id, delivery_id="d2", matched_on="email", lead=LATER),
                NOW + day,  # a producer's clock ahead of the qualifier's
            ),
        ]

    def message(event: EventData, at: datetime, offset: int) -> Message:
        value = make_envelope(event, time=at).to_json()
        return Message(topic_for(event.SERVICE, NAMESPACE), 0, offset, event.lead_id, value)

    async def intent_at(lead_id: str) -> datetime | None:
        async with qualifier.unit.read() as conn:
            query = select(leads.c.intent_at).where(leads.c.lead_id == lead_id)
            return cast(datetime | None, await conn.scalar(query))

    seen = []
    for offset, (event, at) in enumerate(story("alone")):
        await qualifier.runner.handle(message(event, at, offset))
        seen.append(await intent_at("alone"))
    assert seen == [NOW - 20 * day, NOW - 20 * day, NOW - 20 * day, NOW - 2 * day, NOW]

    together = [message(e, at, offset) for offset, (e, at) in enumerate(story("together"))]
    assert await qualifier.runner.handle_together(together)
    assert await intent_at("together") == NOW
