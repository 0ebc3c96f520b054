"""audit in sets, on SQLite (embedded) and PostgreSQL (cluster): a run of events is archived
and projected per table, gives the same archive and read models as one event per
transaction, and costs a number of statements that does not grow with the run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import event, select

import audit
from audit.models import (
    assignments,
    deals,
    erasure_confirmations,
    events,
    forecast,
    leads,
    removal_requests,
    reps,
    satisfaction_audits,
)
from audit.repository.erasures import put_erasure
from contracts.envelope import Envelope
from contracts.events import (
    ContactLogged,
    Decision,
    EventData,
    LeadAccepted,
    LeadAssigned,
    LeadCaptured,
    LeadDeferred,
    LeadDisqualified,
    LeadMerged,
    LeadProfile,
    LeadQualified,
    LeadReassigned,
    LeadReceived,
    LeadRecycled,
    LeadRejected,
    LeadReturned,
    NurtureEnrolled,
    OpportunityClosed,
    OpportunityOpened,
    RouterErasureCompleted,
    SlaBreached,
    make_envelope,
)
from contracts.topics import topic_for
from services.bus.base import Message
from services.bus.embedded import EmbeddedSubscription
from services.clock import ManualClock
from services.consumer import ConsumerRunner
from services.db import Database, UnitOfWork
from services.migrate import upgrade
from services.tables import outbox
from tests import infra
from tests.backends import leadfarm_test_settings

MIGRATIONS = Path(audit.__file__).parent / "migrations"
NAMESPACE = "t"
T0 = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)

MakeUnit = Callable[[], Awaitable[UnitOfWork]]


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
async def new_unit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeUnit]:
    """Makes audit's unit of work on a fresh, migrated database of the runtime's kind."""
    databases: list[Database] = []
    scratch: list[infra.ScratchDatabase] = []

    async def make() -> UnitOfWork:
        if request.param == "embedded":
            database = Database(f"sqlite+aiosqlite:///{tmp_path / f'audit-{len(databases)}.db'}")
            databases.append(database)
            await upgrade(database, {"audit": MIGRATIONS})
        else:
            template: infra.ScratchDatabase = request.getfixturevalue("pg_template")
            scratch.append(infra.create_database(template=template.name))
            database = Database(scratch[-1].url, service="audit")
            databases.append(database)
        return UnitOfWork(database, "audit", ManualClock(T0 + timedelta(days=1)), NAMESPACE)

    yield make
    for database in databases:
        await database.dispose()
    for db in scratch:
        infra.drop_database(db)


def runner(unit: UnitOfWork, monkeypatch: pytest.MonkeyPatch, sample_rate: str) -> ConsumerRunner:
    """audit's consumer as the runtimes build it (its spec's handlers, any topic)."""
    monkeypatch.setenv("LEADFARM_AUDIT_SAMPLE_RATE", sample_rate)
    spec = audit.build(unit, leadfarm_test_settings(topic_namespace=NAMESPACE))
    return ConsumerRunner(
        unit,
        EmbeddedSubscription(unit.database, "t.audit", []),  # messages are handed in below
        spec.handlers,
        group="t.audit",
        max_attempts=1,
        retry_backoff_s=0.001,
        batch_size=1000,
        any_topic=True,
        batch_handlers=spec.batch_handlers,
    )


def messages(envelopes: Sequence[Envelope]) -> list[Message]:
    return [
        Message(
            topic=topic_for(_service(e), NAMESPACE),
            partition=0,
            offset=offset,
            key=e.subject,
            value=e.to_json(),
        )
        for offset, e in enumerate(envelopes)
    ]


def _service(envelope: Envelope) -> Any:
    return envelope.source.rsplit("/", 1)[-1]


def profile(source: str, **extra: Any) -> LeadProfile:
    return LeadProfile(source=source, email=f"{source}-{uuid.uuid4().hex[:6]}@example.com", **extra)


def decision(stage: str, term: str) -> Decision:
    return Decision.model_validate(
        {
            "lifecycle": "prospect",
            "stage": stage,
            "term": term,
            "score": 80,
            "definition_version": "d1",
        }
    )


class Story:
    """Events about some leads, each at its own minute, in the order they are said."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    def say(self, data: EventData, minute: int) -> Envelope:
        envelope = make_envelope(data, time=T0 + timedelta(minutes=minute))
        self.envelopes.append(envelope)
        return envelope


def assigned(lead_id: str, assignment_id: str, rep: str, minute: int) -> LeadAssigned:
    return LeadAssigned(
        lead_id=lead_id,
        assignment_id=assignment_id,
        rep_id=rep,
        rep_name=rep.title(),
        pool="everyone",
        rule="default",
        strategy="round_robin",
        first_touch_due_at=T0 + timedelta(minutes=minute + 5),
    )


def reassigned(lead_id: str, assignment_id: str, rep: str, minute: int) -> LeadReassigned:
    return LeadReassigned(
        lead_id=lead_id,
        assignment_id=assignment_id,
        from_rep_id="ana",
        rep_id=rep,
        rep_name=rep.title(),
        reason="sla",
        first_touch_due_at=T0 + timedelta(minutes=minute + 5),
    )


def mixed_story() -> list[Envelope]:
    """Every projection, several events per lead, one lead's events out of order, a test
    lead, an erased lead, and an event said twice: the lead ids are fixed so two databases
    can be compared row for row."""
    s = Story()
    web, expo = profile("web", timeframe_days=30), profile("expo", campaign="spring")
    # A: the whole way to a won deal, through the forecast and a sampled audit.
    s.say(
        LeadReceived(lead_id="A", delivery_id="dA", source="web", provider="api", received_at=T0),
        0,
    )
    captured_a = s.say(LeadCaptured(lead_id="A", delivery_id="dA", lead=web), 1)
    s.say(LeadQualified(lead_id="A", decision=decision("sales_qualified", "short"), lead=web), 2)
    s.say(assigned("A", "a1", "ana", 3), 3)
    s.envelopes.append(captured_a)  # said twice in one run
    s.say(
        ContactLogged(
            lead_id="A",
            activity_id="c1",
            rep_id="ana",
            channel="call",
            outcome="connected",
            at=T0 + timedelta(minutes=4),
        ),
        4,
    )
    s.say(
        ContactLogged(
            lead_id="A",
            activity_id="c2",
            rep_id="ana",
            channel="note",  # not a touch
            outcome="left a note",
            at=T0 + timedelta(minutes=4),
        ),
        4,
    )
    s.say(reassigned("A", "a2", "bo", 5), 5)
    s.say(SlaBreached(lead_id="A", rep_id="bo", sla="cadence", due_at=T0), 6)
    s.say(LeadAccepted(lead_id="A", assignment_id="a2", rep_id="bo", at=T0), 7)
    s.say(
        OpportunityOpened(
            lead_id="A", opportunity_id="oA", rep_id="bo", amount=Decimal("900"), lead=web
        ),
        8,
    )
    s.say(
        OpportunityClosed(
            lead_id="A", opportunity_id="oA", rep_id="bo", won=True, amount=Decimal(900), lead=web
        ),
        9,
    )
    # B: assigned before it is captured; a second source; nurtured, recycled, rejected.
    s.say(assigned("B", "b1", "cy", 10), 10)
    s.say(LeadCaptured(lead_id="B", delivery_id="dB", lead=expo), 11)
    s.say(
        LeadMerged(lead_id="B", delivery_id="dB2", matched_on="email", lead=profile("partner")),
        12,
    )
    s.say(LeadDeferred(lead_id="B", decision=decision("basic_qualified", "long"), lead=expo), 13)
    s.say(
        NurtureEnrolled(
            lead_id="B", enrolment_id="nB", track="t", reason="deferred", next_touch_at=None
        ),
        14,
    )
    s.say(LeadRecycled(lead_id="B", reason="warm", engagement_score=5.0, lead=expo), 15)
    s.say(
        LeadRejected(
            lead_id="B",
            assignment_id="b1",
            rep_id="cy",
            reason="not mine",
            outcome="returned",
            at=T0 + timedelta(minutes=16),
        ),
        16,
    )
    s.say(reassigned("B", "b2", "ana", 17), 17)
    # C: a test lead.
    test = profile("web", is_test=True)
    s.say(LeadCaptured(lead_id="C", delivery_id="dC", lead=test), 18)
    s.say(LeadQualified(lead_id="C", decision=decision("sales_qualified", "short"), lead=test), 19)
    s.say(assigned("C", "c1", "ana", 20), 20)
    # D: on the forecast, lost, returned: one removal request for the sales executive.
    s.say(LeadCaptured(lead_id="D", delivery_id="dD", lead=expo), 21)
    s.say(LeadQualified(lead_id="D", decision=decision("sales_qualified", "short"), lead=expo), 22)
    s.say(assigned("D", "d1", "bo", 23), 23)
    s.say(
        OpportunityClosed(
            lead_id="D", opportunity_id="oD", rep_id="bo", won=False, amount=Decimal(1), lead=expo
        ),
        24,
    )
    s.say(
        LeadReturned(
            lead_id="D", rep_id="bo", reason="no", reason_code="cadence_exhausted", lead=expo
        ),
        25,
    )
    # E: erased before its late events arrive; F: disqualified.
    s.say(LeadCaptured(lead_id="E", delivery_id="dE", lead=profile("web")), 26)
    s.say(assigned("E", "e1", "cy", 27), 27)
    s.say(
        RouterErasureCompleted(lead_id="E", erasure_id="x1", records=3),
        28,
    )
    s.say(LeadCaptured(lead_id="F", delivery_id="dF", lead=web), 29)
    s.say(LeadDisqualified(lead_id="F", reason="free mail", definition_version="d1"), 30)
    # G: assigned before it is captured and qualified (twice), then reassigned.
    g = profile("partner", timeframe_days=60)
    s.say(assigned("G", "g1", "ana", 31), 31)
    s.say(LeadCaptured(lead_id="G", delivery_id="dG", lead=g), 32)
    s.say(LeadQualified(lead_id="G", decision=decision("sales_qualified", "short"), lead=g), 33)
    s.say(LeadQualified(lead_id="G", decision=decision("sales_qualified", "short"), lead=g), 34)
    s.say(reassigned("G", "g2", "bo", 35), 35)
    # Interleave the leads, as a fetch across topics does, keeping each lead's order.
    by_lead: dict[str, list[Envelope]] = {}
    for envelope in s.envelopes:
        by_lead.setdefault(envelope.subject, []).append(envelope)
    interleaved: list[Envelope] = []
    while any(by_lead.values()):
        for queue in by_lead.values():
            if queue:
                interleaved.append(queue.pop(0))
    return interleaved


async def dump(unit: UnitOfWork) -> dict[str, list[Any]]:
    """Every table the events write, without the ids audit makes up (uuid4)."""
    made_up = {forecast: {"id"}, satisfaction_audits: {"id"}, removal_requests: {"id", "entry_id"}}
    tables = [
        events,
        leads,
        assignments,
        reps,
        deals,
        forecast,
        satisfaction_audits,
        removal_requests,
        erasure_confirmations,
    ]
    out: dict[str, list[Any]] = {}
    async with unit.read() as conn:
        for table in tables:
            skip = made_up.get(table, set()) | {"position"}
            columns = [c for c in table.c if c.name not in skip]
            rows = (await conn.execute(select(*columns))).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
        said = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))).scalars()
        out["outbox"] = [_said(orjson.loads(payload)) for payload in said]
    return out


def _said(record: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    data = {k: v for k, v in record["data"].items() if k not in {"audit_id", "request_id"}}
    return record["type"], record["subject"], data


async def erase(unit: UnitOfWork, lead_id: str) -> None:
    async with unit.transaction() as tx:
        await put_erasure(tx, lead_id, "admin", 0, "x1")


async def test_a_run_projects_as_its_events_one_at_a_time(
    new_unit: MakeUnit, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = messages(mixed_story())
    one_by_one, together, in_three = await new_unit(), await new_unit(), await new_unit()
    for unit in (one_by_one, together, in_three):
        await erase(unit, "E")

    single = runner(one_by_one, monkeypatch, sample_rate="1")
    for message in story:
        await single.handle(message)  # one event per transaction (the fallback path)
    assert await runner(together, monkeypatch, sample_rate="1").handle_together(story)
    # Runs that find the rows of the runs before them.
    consumer, third = runner(in_three, monkeypatch, sample_rate="1"), len(story) // 3
    for run in (story[:third], story[third : 2 * third], story[2 * third :]):
        assert await consumer.handle_together(run)

    expected, got = await dump(one_by_one), await dump(together)
    assert got == expected
    assert await dump(in_three) == expected
    # ... and the story did reach every projection.
    assert len(got["audit_events"]) == len(story) - 1  # A's capture once
    redacted = [r for r in got["audit_events"] if r[-1] is not None]  # redacted_at
    assert sorted(r[1] for r in redacted) == ["E", "E", "E"]
    assert "@example.com" not in orjson.dumps([r[5] for r in redacted]).decode()
    assert {(r[0], r[1]) for r in got["audit_leads"]} >= {("A", "web"), ("B", "expo")}
    assert len(got["audit_assignments"]) == 9
    # A (won), D and G (its rep now bo); not the test lead
    assert len(got["audit_forecast"]) == 3
    assert {(r[0], r[-3]) for r in got["audit_forecast"]} == {("A", "bo"), ("D", "bo"), ("G", "bo")}
    assert len(got["audit_tasks"]) == 5  # sampled A, B, D, E, G (the first assignment)
    assert len(got["audit_forecast_requests"]) == 1
    assert [t for t, _, _ in got["outbox"]].count("leadfarm.forecast.changed.v1") == 3


def story_of(leads_: int, run: str, minute: int) -> list[Envelope]:
    """The common path of `leads_` leads: received, captured, then deferred and nurtured,
    or sales-qualified short-term (onto the forecast), assigned (an audit sampled) and
    reassigned."""
    s = Story()
    for n in range(leads_):
        lead_id = f"{run}-{n}"
        web = profile("web")
        s.say(
            LeadReceived(
                lead_id=lead_id, delivery_id=lead_id, source="web", provider="api", received_at=T0
            ),
            minute,
        )
        s.say(LeadCaptured(lead_id=lead_id, delivery_id=lead_id, lead=web), minute)
        if n % 2:
            s.say(
                LeadDeferred(
                    lead_id=lead_id, decision=decision("basic_qualified", "long"), lead=web
                ),
                minute + 1,
            )
            s.say(
                NurtureEnrolled(
                    lead_id=lead_id,
                    enrolment_id=lead_id,
                    track="t",
                    reason="deferred",
                    next_touch_at=None,
                ),
                minute + 2,
            )
        else:
            s.say(
                LeadQualified(
                    lead_id=lead_id, decision=decision("sales_qualified", "short"), lead=web
                ),
                minute + 1,
            )
            s.say(assigned(lead_id, f"{lead_id}-a1", "ana", minute + 2), minute + 2)
            s.say(reassigned(lead_id, f"{lead_id}-a2", "bo", minute + 3), minute + 3)
    return s.envelopes


async def statements_of(unit: UnitOfWork, consumer: ConsumerRunner, run: list[Envelope]) -> int:
    counted: list[str] = []

    def count(*args: Any) -> None:
        counted.append(str(args[2]))

    engine = unit.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await consumer.handle_together(messages(run))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(counted)


async def test_a_run_costs_the_same_statements_whatever_its_length(
    new_unit: MakeUnit, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = await new_unit()
    consumer = runner(unit, monkeypatch, sample_rate="1")
    # A first run: the chassis writes the group's first position once (an insert).
    await statements_of(unit, consumer, story_of(1, "first", 0))
    small = await statements_of(unit, consumer, story_of(2, "small", 0))
    large = await statements_of(unit, consumer, story_of(40, "large", 10))
    # Leads seen before, in a later run: their assignments are read, ended and replaced.
    again = [
        make_envelope(
            reassigned(f"large-{n}", f"large-{n}-a3", "cy", 60), time=T0 + timedelta(minutes=60)
        )
        for n in range(0, 40, 2)
    ]
    later = await statements_of(unit, consumer, again)
    assert large == small, (small, large)
    # About one per table: reads (inbox, erasures, assignments, leads, forecast, audits,
    # won deals) and writes (archive, leads, assignments, reps, forecast, audits, outbox).
    assert max(small, large, later) <= 20, (small, large, later)
    async with unit.read() as conn:
        open_ = (
            await conn.execute(
                select(assignments.c.assignment_id).where(assignments.c.ended_at.is_(None))
            )
        ).scalars()
        assert sorted(open_) == sorted(
            [f"large-{n}-a3" for n in range(0, 40, 2)] + ["first-0-a2", "small-0-a2"]
        )
        rep_of = dict((await conn.execute(select(leads.c.lead_id, leads.c.rep_id))).all())
    assert (rep_of["large-0"], rep_of["small-0"]) == ("cy", "bo")
    assert rep_of["large-1"] is None
