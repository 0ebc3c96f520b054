"""The embedded bus's log tail: the newest rows of the log read once for every subscription
of the process, each subscription served its own topics in order, and nothing it holds
outliving a rewrite of the log."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from contracts.events import LeadDisqualified, make_envelope
from contracts.topics import ServiceName
from services.bus.base import Message
from services.bus.embedded import EmbeddedBus, EmbeddedSubscription
from services.clock import ManualClock
from services.db import UnitOfWork
from services.erasure import redact_outbox
from services.outbox import write_record
from tests.scenarios.services import chassis_unit

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def disqualified(lead_id: str, reason: str = "r") -> LeadDisqualified:
    return LeadDisqualified(lead_id=lead_id, reason=reason, definition_version="v")


async def say(unit: UnitOfWork, service: ServiceName, *leads: str, reason: str = "r") -> None:
    """`service` writes lead.disqualified about each of `leads` to its topic `t.<service>`,
    in one commit."""
    speaker = UnitOfWork(unit.database, service, unit.clock, "t")
    async with speaker.transaction() as tx:
        for lead in leads:
            envelope = make_envelope(disqualified(lead, reason), time=NOW, subject=lead)
            await write_record(tx, f"t.{service}", lead, envelope.to_json(), event_id=envelope.id)


def log_reads(unit: UnitOfWork) -> list[str]:
    """The reads of the log the process runs from now on (a list kept current)."""
    database = unit.database
    seen: list[str] = []
    read = database.sqlite_read

    def counted(sql: str, parameters: Sequence[Any]) -> list[Any]:
        seen.append(sql)
        return read(sql, parameters)

    database.sqlite_read = counted  # type: ignore[method-assign]
    return seen


def keys(messages: Sequence[Message]) -> list[str | None]:
    return [m.key for m in messages]


async def started(bus: EmbeddedBus, group: str, topics: list[str]) -> EmbeddedSubscription:
    subscription = bus.subscribe(group, topics)
    assert isinstance(subscription, EmbeddedSubscription)
    await subscription.start()
    return subscription


async def test_a_commit_s_rows_are_read_once_for_every_subscription(tmp_path: Path) -> None:
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        bus = EmbeddedBus(unit.database)
        router = await started(bus, "t.router", ["t.qualifier"])
        audit = await started(bus, "t.audit", ["t.qualifier", "t.nurture"])
        ingest = await started(bus, "t.ingest", ["t.nurture"])
        for subscription in (router, audit, ingest):
            assert await subscription.fetch(10, 0.01) == []  # at the end of an empty log
        reads = log_reads(unit)
        await say(unit, "qualifier", "q1", "q2")
        await say(unit, "nurture", "n1")
        await say(unit, "qualifier", "q3")

        to_router = await router.fetch(10, 0.01)
        to_audit = await audit.fetch(10, 0.01)
        to_ingest = await ingest.fetch(10, 0.01)
        assert keys(to_router) == ["q1", "q2", "q3"]
        assert keys(to_audit) == ["q1", "q2", "n1", "q3"]
        assert keys(to_ingest) == ["n1"]
        assert len(reads) == 1, reads  # one read of the three commits, for all three
        assert to_router[0] is to_audit[0]  # the same record: the decode cache's key
        assert to_ingest[0] is to_audit[2]
        assert all(m.topic == "t.qualifier" for m in to_router)
        assert to_router[0].value == orjson.dumps(orjson.loads(to_router[0].value))


async def test_a_subscription_takes_its_topics_in_order_a_batch_at_a_time(
    tmp_path: Path,
) -> None:
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        bus = EmbeddedBus(unit.database)
        router = await started(bus, "t.router", ["t.qualifier"])
        assert await router.fetch(10, 0.01) == []
        await say(unit, "qualifier", *(f"q{i}" for i in range(7)))
        await say(unit, "nurture", "n1")
        assert keys(await router.fetch(3, 0.01)) == ["q0", "q1", "q2"]
        assert keys(await router.fetch(3, 0.01)) == ["q3", "q4", "q5"]
        assert keys(await router.fetch(3, 0.01)) == ["q6"]
        router.seek(0)  # a replay from the start reads them all again
        assert keys(await router.fetch(10, 0.01)) == [f"q{i}" for i in range(7)]


async def test_a_subscription_behind_the_tail_reads_the_table(tmp_path: Path) -> None:
    """Rows older than the tail (a backlog at start, a burst larger than the tail) are read
    from the table, and then from the tail, each once and in order; after a burst larger
    than the tail it holds the burst's newest rows only."""
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        bus = EmbeddedBus(unit.database)
        bus.tail.capacity = 4
        await say(unit, "qualifier", "before")
        behind = await started(bus, "t.router", ["t.qualifier"])
        other = await started(bus, "t.audit", ["t.qualifier"])
        assert keys(await other.fetch(10, 0.01)) == ["before"]
        await say(unit, "qualifier", *(f"q{i}" for i in range(10)))  # more than the tail holds
        seen: list[str | None] = []
        while batch := await behind.fetch(3, 0.01):
            seen += keys(batch)
        assert seen == ["before", *(f"q{i}" for i in range(10))]
        assert len(bus.tail.messages) == 4
        assert keys(bus.tail.messages) == ["q6", "q7", "q8", "q9"]
        assert keys(await other.fetch(20, 0.01)) == [f"q{i}" for i in range(10)]


async def test_a_redacted_log_is_read_redacted(tmp_path: Path) -> None:
    """Erasure rewrites the log's rows in place: what the tail held of them is dropped, so
    a consumer that reads them again (a rewind, a replay) never gets the old payload."""
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        bus = EmbeddedBus(unit.database)
        router = await started(bus, "t.router", ["t.qualifier"])
        assert await router.fetch(10, 0.01) == []
        await say(unit, "qualifier", "erased", reason="Ada Lovelace asked")
        [said] = await router.fetch(10, 0.01)
        assert b"Ada Lovelace" in said.value
        qualifier = UnitOfWork(unit.database, "qualifier", unit.clock, "t")
        async with qualifier.transaction() as tx:
            assert await redact_outbox(tx, "erased", {"Ada Lovelace"}) == 1
        router.seek(said.offset - 1)
        [again] = await router.fetch(10, 0.01)
        assert again.offset == said.offset
        assert b"Ada Lovelace" not in again.value
        assert b"[erased] asked" in again.value


async def test_rows_another_process_wrote_are_read_at_the_safety_timeout(
    tmp_path: Path,
) -> None:
    """A commit of this process wakes its subscriptions; rows written by another process
    (no wake-up) are found when a waiting subscription's timeout runs out, as before."""
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        bus = EmbeddedBus(unit.database)
        router = await started(bus, "t.router", ["t.qualifier"])
        await say(unit, "qualifier", "ours")
        assert keys(await router.fetch(10, 0.01)) == ["ours"]
        payload = orjson.loads((await router_value(unit)).decode())
        payload["id"] = "another-event"
        with sqlite3.connect(unit.database.sqlite_path) as other:
            other.execute(
                "INSERT INTO outbox (event_id, service, topic, key, payload, created_at,"
                " published_at) VALUES ('another-event', 'qualifier', 't.qualifier',"
                " 'theirs', ?, '2026-12-06 09:00:00', '2026-12-06 09:00:00')",
                (orjson.dumps(payload).decode(),),
            )
        assert keys(await router.fetch(10, 0.05)) == ["theirs"]


async def router_value(unit: UnitOfWork) -> bytes:
    rows = unit.database.sqlite_read("SELECT payload FROM outbox ORDER BY id LIMIT 1", ())
    return str(rows[0][0]).encode()
