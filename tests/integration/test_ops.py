"""Operating Leadfarm on both runtimes: dead letters (list, show, replay once), consumer
lag, rebuilding audit's read models by replay, and the operations metrics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from contracts.envelope import CONTENT_TYPE
from contracts.events import LeadCaptured, LeadReceived, make_envelope
from contracts.topics import ServiceName, dlq_for
from services.consumer import ConsumerRunner, Incoming
from services.db import Tx
from services.ops import dlq, lag, replay
from services.outbox import write_record
from services.runtime import Runtime, cluster_runtime, embedded_runtime
from tests.backends import Backend, Record, eventually

LEAD = {
    "email": "Ops.Person@Acme.example",
    "phone": "+49 30 5550123",
    "company": "Acme",
    "country": "DE",
    "source": "website",
    "timeframe_days": 300,
}
CAPTURED = LeadCaptured.TYPE
DEFERRED = "leadfarm.lead.deferred.v1"  # a 300-day timeframe: the qualifier defers


def _runner(backend: Backend, service: ServiceName) -> ConsumerRunner:
    group = f"{backend.settings.topic_namespace}.{service}"
    return next(c for c in backend.runtimes[service].consumers if c.group == group)


def _distinct(backend: Backend) -> list[Runtime]:
    return list({id(r): r for r in backend.runtimes.values()}.values())


async def test_a_dead_letter_is_listed_shown_redacted_and_replayed_once(backend: Backend) -> None:
    broken = {"on": True}
    audit = _runner(backend, "audit")
    original = audit.batch_handlers[LeadCaptured]

    async def failing(tx: Tx, events: Sequence[Incoming[Any]]) -> None:
        for event in events:
            if broken["on"] and event.data.lead.email == str(LEAD["email"]).lower():
                raise RuntimeError("audit cannot take this lead today")
        await original(tx, events)

    audit.batch_handlers = {**audit.batch_handlers, LeadCaptured: failing}
    runtime = backend.runtimes["audit"]
    lead_id = await backend.post_lead(**LEAD)

    async def dead() -> list[dlq.DeadLetter] | None:
        letters = await dlq.list_dead_letters(runtime, "audit")
        return [lt for lt in letters if lt.event_type == CAPTURED] or None

    [letter] = await eventually(dead)
    assert letter.status == "pending"
    assert letter.consumer.endswith(".audit")
    assert "audit cannot take this lead today" in letter.error
    assert letter.original_topic == backend.topic("ingest")
    # The dead letter keeps the event's content-type (CloudEvents structured mode).
    assert letter.headers["content-type"] == CONTENT_TYPE
    assert CAPTURED not in {e["type"] for e in await backend.timeline(lead_id)}

    shown = orjson.dumps(letter.envelope()).decode()
    assert "ops.person@acme.example" not in shown.lower()
    assert "5550123" not in shown
    assert letter.envelope(unredacted=True)["record"]["data"]["lead"]["email"] == (
        "ops.person@acme.example"
    )

    broken["on"] = False
    assert await dlq.replay_dead_letter(runtime, letter) == "replayed"
    # The same entry again, even from a stale listing: refused, never sent twice.
    assert await dlq.replay_dead_letter(runtime, letter) == "already replayed"
    await backend.timeline_with(lead_id, CAPTURED, timeout=20)

    async def handled() -> dlq.DeadLetter | None:
        found = await dlq.get_dead_letter(runtime, "audit", str(letter.id))
        return found if found is not None and found.status == "handled" else None

    again = await eventually(handled)
    assert again.replayed_at is not None
    assert await dlq.replay_dead_letter(runtime, again) == "already handled"
    # The other consumers of the topic had handled the event: the replay is a no-op there.
    # (The qualifier's deferral reaches audit's archive on its own topic, maybe a bit later.)
    events = await backend.timeline_with(lead_id, CAPTURED, DEFERRED, timeout=20)
    types = [e["type"] for e in events]
    assert types.count(CAPTURED) == 1
    assert types.count(DEFERRED) == 1
    # The replayed record is a structured-mode CloudEvent like the original.
    captured_id = letter.event_id
    both = [
        r for r in await backend.records("ingest") if orjson.loads(r.value).get("id") == captured_id
    ]
    assert len(both) == 2
    assert all(r.headers["content-type"] == CONTENT_TYPE.encode() for r in both)
    # ... for the group that dead-lettered it only: the others pass it over by this header.
    assert [r.headers.get("x-leadfarm-replay-for") for r in both] == [
        None,
        letter.consumer.encode(),
    ]


async def test_a_dead_letter_from_before_content_types_is_replayed_as_a_cloudevent(
    backend: Backend,
) -> None:
    """A dead letter written before records carried `content-type` (only the x-leadfarm-*
    headers) goes back to its topic in structured mode, readable by a CloudEvents SDK."""
    now = datetime.now(UTC)
    event = make_envelope(
        LeadReceived(
            lead_id="lead-old-dlq", delivery_id="d", source="s", provider="api", received_at=now
        ),
        time=now,
    )
    async with backend.runtimes["audit"].units["audit"].transaction() as tx:
        await write_record(
            tx,
            dlq_for(backend.topic("ingest")),
            event.subject,
            event.to_json(),
            event_id="dlq-old-1",
            headers={
                "x-leadfarm-consumer": f"{backend.settings.topic_namespace}.audit",
                "x-leadfarm-error": "RuntimeError: then",
                "x-leadfarm-attempts": "3",
                "x-leadfarm-original-topic": backend.topic("ingest"),
                "x-leadfarm-original-partition": "0",
                "x-leadfarm-original-offset": "7",
            },
        )
    [letter] = [
        lt
        for lt in await dlq.list_dead_letters(backend.runtimes["audit"], "audit")
        if lt.dlq_event_id == "dlq-old-1"
    ]
    assert await dlq.replay_dead_letter(backend.runtimes["audit"], letter) == "replayed"

    async def replayed() -> list[Record] | None:
        records = await backend.records("ingest")
        return [r for r in records if orjson.loads(r.value)["id"] == event.id] or None

    [record] = await eventually(replayed)
    assert record.headers["content-type"] == CONTENT_TYPE.encode()
    assert record.headers["x-leadfarm-replay-of"] == b"dlq-old-1"
    assert "x-leadfarm-error" not in record.headers


async def test_lag_per_group_and_partition_and_the_metrics(backend: Backend) -> None:
    lead_id = await backend.post_lead(**LEAD)
    await backend.timeline_with(lead_id, DEFERRED, timeout=20)
    runtimes = _distinct(backend)
    namespace = backend.settings.topic_namespace

    async def caught_up() -> list[lag.PartitionLag] | None:
        rows = await lag.consumer_lag(runtimes)
        audit = [r for r in rows if r.group == f"{namespace}.audit"]
        return rows if audit and all(r.lag == 0 for r in rows) else None

    rows = await eventually(caught_up)
    groups = {r.group for r in rows}
    assert {f"{namespace}.{s}" for s in ("qualifier", "router", "nurture", "audit")} <= groups
    ingest_topic = [
        r for r in rows if r.group == f"{namespace}.audit" and r.topic.endswith("ingest")
    ]
    assert ingest_topic
    assert sum(r.end for r in ingest_topic) > 0
    assert all(r.committed is not None for r in ingest_topic if r.end > 0)
    # Caught up, every group's committed offset is the end of each topic it has read (the
    # embedded log's one position per group ran ahead of its quieter topics).
    assert [r for r in rows if r.committed is not None and r.committed != r.end] == []

    metrics = (await backend.client("audit").get("/metrics")).text
    for name in (
        "leadfarm_consumer_lag{",
        "leadfarm_handler_seconds_bucket{",
        "# TYPE leadfarm_dead_letters_total counter",
        "leadfarm_outbox_backlog{",
        "# TYPE leadfarm_router_sla_total counter",
        "# TYPE leadfarm_outbox_relay_failures_total counter",
    ):
        assert name in metrics, name


async def test_replay_rebuilds_audits_lost_rows_and_refuses_what_is_not_a_projection(
    backend: Backend,
) -> None:
    lead_id = await backend.post_lead(**LEAD)
    await backend.timeline_with(lead_id, CAPTURED, DEFERRED, timeout=20)
    runtime = backend.runtimes["audit"]
    with pytest.raises(replay.ReplayRefused, match="stop audit first"):
        await replay.replay(runtime, "audit", datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(replay.ReplayRefused, match="router cannot be replayed"):
        await replay.replay(backend.runtimes["router"], "router", datetime.now(UTC))

    await runtime.stop()  # the service must be stopped; the fixture's stop is idempotent
    ops = (
        embedded_runtime(backend.settings)
        if runtime.mode == "embedded"
        else cluster_runtime(backend.settings, "audit")
    )
    try:
        before = await _audit_rows(ops, lead_id)
        assert before[0] >= 2
        assert before[1] == 1
        async with ops.units["audit"].transaction() as tx:  # lose the lead's rows
            await tx.conn.execute(
                text("DELETE FROM audit_events WHERE lead_id = :id"), {"id": lead_id}
            )
            await tx.conn.execute(
                text("DELETE FROM audit_leads WHERE lead_id = :id"), {"id": lead_id}
            )
        assert await _audit_rows(ops, lead_id) == (0, 0, None)

        report = await replay.replay(ops, "audit", datetime.now(UTC) - timedelta(hours=1))
        assert report.failed == 0
        assert report.applied >= before[0]
        # Back, with anything said about the lead after audit stopped (nurture's, say).
        rebuilt = await _audit_rows(ops, lead_id)
        assert rebuilt[0] >= before[0]
        assert rebuilt[1:] == before[1:]

        # Replaying again changes nothing: the archive keeps each event once.
        await replay.replay(ops, "audit", datetime.now(UTC) - timedelta(hours=1))
        assert await _audit_rows(ops, lead_id) == rebuilt
    finally:
        await ops.database.dispose()


async def _audit_rows(runtime: Runtime, lead_id: str) -> tuple[int, int, Any]:
    async with runtime.units["audit"].read() as conn:
        events = await conn.scalar(
            text("SELECT count(*) FROM audit_events WHERE lead_id = :id"), {"id": lead_id}
        )
        leads = await conn.scalar(
            text("SELECT count(*) FROM audit_leads WHERE lead_id = :id"), {"id": lead_id}
        )
        stage = await conn.scalar(
            text("SELECT captured_at FROM audit_leads WHERE lead_id = :id"), {"id": lead_id}
        )
    return int(events or 0), int(leads or 0), stage
