"""The consumer runner: bounded retries then the dead-letter topic, infrastructure errors
paused and retried without dead-lettering, each event handled once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from uuid_utils import uuid7

from contracts.events import ErasureRequested, LeadDisqualified, make_envelope
from services.bus.base import Message
from services.bus.embedded import EmbeddedBus, EmbeddedSubscription
from services.clock import ManualClock
from services.consumer import ConsumerRunner, Incoming
from services.db import Tx, UnitOfWork
from services.outbox import REPLAY_FOR_HEADER, emit
from services.tables import embedded_offsets, inbox, outbox
from tests.backends import eventually
from tests.scenarios.services import chassis_unit


def disqualified(lead_id: str) -> LeadDisqualified:
    return LeadDisqualified(lead_id=lead_id, reason="r", definition_version="v")


async def run_with(unit: UnitOfWork, handler: Any, leads: list[str]) -> ConsumerRunner:
    bus = EmbeddedBus(unit.database)
    # The qualifier says lead.disqualified; the runner below consumes its topic.
    qualifier_unit = UnitOfWork(unit.database, "qualifier", unit.clock, unit.topic_namespace)
    for lead in leads:
        async with qualifier_unit.transaction() as tx:
            await emit(tx, disqualified(lead))
    runner = ConsumerRunner(
        unit,
        bus.subscribe("t.test", ["t.qualifier"]),
        {LeadDisqualified: handler},
        group="t.test",
        max_attempts=3,
        retry_backoff_s=0.001,
        batch_size=10,
    )
    return runner


async def dead_letters(unit: UnitOfWork) -> list[dict[str, str]]:
    async with unit.read() as conn:
        rows = (
            await conn.execute(select(outbox.c.headers).where(outbox.c.topic == "t.qualifier.dlq"))
        ).all()
    return [orjson.loads(r.headers) for r in rows]


async def handled_count(unit: UnitOfWork) -> int:
    async with unit.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(inbox)) or 0)


async def test_a_failing_handler_is_retried_then_dead_lettered_and_the_next_goes_on(
    tmp_path: Path,
) -> None:
    calls: list[str] = []

    async def handler(tx: Tx, event: Incoming[LeadDisqualified]) -> None:
        calls.append(event.data.lead_id)
        if event.data.lead_id == "bad":
            raise ValueError("cannot route this lead")

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner = await run_with(unit, handler, ["bad", "good"])
        task = asyncio.create_task(runner.run())
        try:
            await eventually(lambda: asyncio.sleep(0, "good" in calls))
            letters = await eventually(lambda: dead_letters(unit))
        finally:
            await runner.stop()
            await task
        # The batch [bad, good] is tried in one transaction first; bad fails, so it is rolled
        # back and both are handled one at a time: bad three times, good once.
        assert calls == ["bad", "bad", "bad", "bad", "good"]
        assert letters[0]["x-leadfarm-error"] == "ValueError: cannot route this lead"
        assert letters[0]["x-leadfarm-attempts"] == "3"
        assert letters[0]["x-leadfarm-consumer"] == "t.test"
        assert await handled_count(unit) == 1  # the dead letter is not "handled"


async def test_infrastructure_errors_pause_and_retry_without_dead_letters(tmp_path: Path) -> None:
    calls: list[str] = []

    async def flaky(tx: Tx, event: Incoming[LeadDisqualified]) -> None:
        calls.append(event.data.lead_id)
        if len(calls) <= 2:
            raise OperationalError("SELECT 1", {}, ConnectionError("database restarting"))

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner = await run_with(unit, flaky, ["a", "b"])
        task = asyncio.create_task(runner.run())
        try:
            await eventually(lambda: asyncio.sleep(0, calls.count("b") == 1))
            await eventually(lambda: handled_count(unit))
        finally:
            await runner.stop()
            await task
        assert calls == ["a", "a", "a", "b"]
        assert await dead_letters(unit) == []
        assert await handled_count(unit) == 2


async def test_a_redelivered_event_is_handled_once(tmp_path: Path) -> None:
    calls: list[str] = []

    async def handler(tx: Tx, event: Incoming[LeadDisqualified]) -> None:
        calls.append(event.data.lead_id)

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner = await run_with(unit, handler, ["once"])
        await runner.subscription.start()
        messages = await runner.subscription.fetch(10, 0.1)
        for message in messages + messages:  # the same delivery twice
            await runner.handle(message)
        assert calls == ["once"]
        assert await handled_count(unit) == 1


async def test_a_fetched_batch_is_handled_in_one_transaction(tmp_path: Path) -> None:
    transactions: list[int] = []

    async def handler(tx: Tx, event: Incoming[LeadDisqualified]) -> None:
        transactions.append(id(tx))

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner = await run_with(unit, handler, ["a", "b", "c", "d"])
        await runner.subscription.start()
        messages = await runner.subscription.fetch(10, 0.1)
        assert len(messages) == 4
        assert await runner.handle_together(messages + messages[:1])  # a redelivered in it
        assert len(transactions) == 4
        assert len(set(transactions)) == 1
        assert await handled_count(unit) == 4
        assert await runner.handle_together(messages)  # all four again: all duplicates
        assert len(transactions) == 4


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_batch_counts_each_event_once_by_outcome(tmp_path: Path) -> None:
    async def handler(tx: Tx, event: Incoming[LeadDisqualified]) -> None:
        return None

    kind = LeadDisqualified.TYPE
    handled = "leadfarm_events_handled_total"
    timed = "leadfarm_handler_seconds_count"
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner = await run_with(unit, handler, ["m1", "m2", "m3"])
        await runner.subscription.start()
        messages = await runner.subscription.fetch(10, 0.1)
        ok = _sample(handled, consumer="t.test", type=kind, result="ok")
        duplicate = _sample(handled, consumer="t.test", type=kind, result="duplicate")
        seconds = _sample(timed, consumer="t.test")
        assert await runner.handle_together(messages + messages[:1])  # one redelivered
        assert _sample(handled, consumer="t.test", type=kind, result="ok") == ok + 3
        assert _sample(handled, consumer="t.test", type=kind, result="duplicate") == duplicate + 1
        assert _sample(timed, consumer="t.test") == seconds + 3  # a time per handled event


async def test_a_bad_event_in_a_batch_rolls_it_back_and_the_good_ones_apply_once(
    tmp_path: Path,
) -> None:
    calls: list[str] = []

    async def handler(tx: Tx, event: Incoming[LeadDisqualified]) -> None:
        calls.append(event.data.lead_id)
        # A visible effect per event: emitted only if this event's transaction commits.
        await emit(tx, disqualified(f"effect-{event.data.lead_id}"))
        if event.data.lead_id == "bad":
            raise ValueError("cannot route this lead")

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner = await run_with(unit, handler, ["first", "bad", "last"])
        await runner.subscription.start()
        messages = await runner.subscription.fetch(10, 0.1)
        assert not await runner.handle_together(messages)
        assert await handled_count(unit) == 0  # the batch left nothing behind
        for message in messages:
            await runner.handle(message)
        assert calls == ["first", "bad", "first", "bad", "bad", "bad", "last"]
        assert await handled_count(unit) == 2
        assert len(await dead_letters(unit)) == 1
        async with unit.read() as conn:
            effects = (
                await conn.scalars(select(outbox.c.key).where(outbox.c.key.like("effect-%")))
            ).all()
        assert sorted(effects) == ["effect-first", "effect-last"]


async def fetched_by_recorder(
    unit: UnitOfWork, lead: str
) -> tuple[ConsumerRunner, Message, list[str]]:
    """A runner whose handler records the leads it handles, the message it fetched (the
    lead's event) and the record."""
    calls: list[str] = []

    async def handler(tx: Tx, event: Incoming[LeadDisqualified]) -> None:
        calls.append(event.data.lead_id)

    runner = await run_with(unit, handler, [lead])
    await runner.subscription.start()
    (message,) = await runner.subscription.fetch(10, 0.1)
    return runner, message, calls


async def test_an_event_on_a_topic_not_its_own_is_ignored(tmp_path: Path) -> None:
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner, message, calls = await fetched_by_recorder(unit, "home")
        misplaced = dataclasses.replace(message, topic="t.audit")  # the qualifier's event
        await runner.handle(misplaced)
        assert calls == []
        runner.any_topic = True  # audit's archive takes events from wherever they are
        await runner.handle(misplaced)
        assert calls == ["home"]


async def test_a_replay_is_handled_by_the_group_it_is_for_only(tmp_path: Path) -> None:
    """A dead letter's replay reaches every group of its topic; the groups that handled the
    event the first time pass it over by its header, not by an inbox row they may have
    forgotten (the inbox keeps `LEADFARM_INBOX_RETENTION_DAYS`)."""
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner, message, calls = await fetched_by_recorder(unit, "replayed")
        for_another = dataclasses.replace(
            message, headers={**message.headers, REPLAY_FOR_HEADER: "t.router"}
        )
        await runner.handle(for_another)
        assert calls == []
        assert await handled_count(unit) == 0
        for_this = dataclasses.replace(
            message, headers={**message.headers, REPLAY_FOR_HEADER: "t.test"}
        )
        assert await runner.handle_together([for_another, for_this])
        assert calls == ["replayed"]


async def test_a_consumer_forgets_what_its_inbox_kept_long_enough(tmp_path: Path) -> None:
    calls: list[str] = []

    async def handler(tx: Tx, event: Incoming[LeadDisqualified]) -> None:
        calls.append(event.data.lead_id)

    clock = ManualClock()
    old, recent = clock.now() - timedelta(days=31), clock.now() - timedelta(days=29)
    async with chassis_unit(tmp_path, clock) as unit:
        async with unit.transaction() as tx:
            await tx.conn.execute(
                inbox.insert(),
                [
                    {
                        "consumer": consumer,
                        "event_id": str(uuid7(nanoseconds=int(at.timestamp() * 1e9))),
                        "handled_at": at,
                    }
                    for consumer in ("t.test", "t.other")
                    for at in (old, recent)
                ],
            )
        runner = await run_with(unit, handler, ["new"])
        runner.inbox_retention = timedelta(days=30)
        task = asyncio.create_task(runner.run())
        try:
            await eventually(lambda: asyncio.sleep(0, runner.idle.is_set() or None))
        finally:
            await runner.stop()
            await task
        async with unit.read() as conn:
            left = (await conn.execute(select(inbox.c.consumer, inbox.c.handled_at))).all()
        assert sorted(
            (r.consumer, r.handled_at) for r in left if r.handled_at in (old, recent)
        ) == [
            ("t.other", old),
            ("t.other", recent),
            ("t.test", recent),
        ]
        assert calls == ["new"]
        assert await handled_count(unit) == 4  # and the event just handled


def test_envelopes_keep_their_time() -> None:
    envelope = make_envelope(disqualified("x"), time=datetime(2026, 1, 1, tzinfo=UTC))
    assert envelope.time.year == 2026


async def test_a_transient_error_on_a_multi_topic_subscription_skips_no_event(
    tmp_path: Path,
) -> None:
    """Regression: the embedded log has one cursor for every topic, and rewinding once per
    topic let the last rewind win, so an earlier event of another topic was committed past
    without ever being handled."""
    calls: list[str] = []
    failed = False

    async def handler(tx: Tx, event: Incoming[Any]) -> None:
        nonlocal failed
        if not failed:
            failed = True
            raise OperationalError("INSERT", {}, ConnectionError("database is locked"))
        calls.append(event.envelope.subject)

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        bus = EmbeddedBus(unit.database)
        audit = UnitOfWork(unit.database, "audit", unit.clock, "t")
        qualifier = UnitOfWork(unit.database, "qualifier", unit.clock, "t")
        now = datetime(2026, 1, 1, tzinfo=UTC)
        for name, producer, data in (
            (
                "erase-1",
                audit,
                ErasureRequested(lead_id="erase-1", erasure_id="e1", requested_at=now),
            ),
            ("dq-2", qualifier, disqualified("dq-2")),
            (
                "erase-3",
                audit,
                ErasureRequested(lead_id="erase-3", erasure_id="e3", requested_at=now),
            ),
        ):
            async with producer.transaction() as tx:
                await emit(tx, data, subject=name)
        runner = ConsumerRunner(
            unit,
            bus.subscribe("t.test", ["t.audit", "t.qualifier"]),
            {LeadDisqualified: handler, ErasureRequested: handler},
            group="t.test",
            max_attempts=3,
            retry_backoff_s=0.001,
            batch_size=10,
        )
        task = asyncio.create_task(runner.run())
        try:
            await eventually(lambda: asyncio.sleep(0, len(calls) >= 3))
            await eventually(lambda: asyncio.sleep(0, runner.idle.is_set()))
        finally:
            await runner.stop()
            await task
        assert sorted(calls) == ["dq-2", "erase-1", "erase-3"]
        assert await dead_letters(unit) == []


async def test_a_batch_handler_takes_the_fetched_run_in_order(tmp_path: Path) -> None:
    runs: list[list[str]] = []

    async def batch(tx: Tx, events: Sequence[Incoming[LeadDisqualified]]) -> None:
        runs.append([e.data.lead_id for e in events])

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner = await run_with(unit, batch, ["a", "b", "c"])
        runner.handlers, runner.batch_handlers = {}, {LeadDisqualified: batch}
        await runner.subscription.start()
        messages = await runner.subscription.fetch(10, 0.1)
        assert await runner.handle_together(messages)
        assert runs == [["a", "b", "c"]]
        assert await handled_count(unit) == 3
        # The fallback path (and a redelivery) hands the batch handler one event at a time.
        await runner.handle(messages[0])
        assert runs == [["a", "b", "c"]]


async def test_records_emitted_in_a_failed_savepoint_are_not_written(tmp_path: Path) -> None:
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        async with unit.transaction() as tx:
            await emit(tx, disqualified("kept"))
            with contextlib.suppress(RuntimeError):
                async with tx.savepoint():
                    await emit(tx, disqualified("undone"))
                    raise RuntimeError("the nested work failed")
            assert tx.emitted == 1
        async with unit.read() as conn:
            keys = list(await conn.scalars(select(outbox.c.key)))
        assert keys == ["kept"]


async def test_on_the_embedded_log_the_position_commits_with_the_effects(tmp_path: Path) -> None:
    async def handler(tx: Tx, event: Incoming[LeadDisqualified]) -> None:
        if event.data.lead_id == "bad":
            raise ValueError("poison")

    async def position(unit: UnitOfWork) -> int | None:
        async with unit.read() as conn:
            return await conn.scalar(
                select(embedded_offsets.c.position).where(embedded_offsets.c.group_id == "t.test")
            )

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner = await run_with(unit, handler, ["a", "b", "bad"])
        await runner.subscription.start()
        messages = await runner.subscription.fetch(10, 0.1)
        assert await runner.handle_together(messages[:2])
        assert await position(unit) == messages[1].offset  # no separate commit needed
        assert not await runner.handle_together(messages)  # rolled back: position unchanged
        assert await position(unit) == messages[1].offset
        await runner.handle(messages[2])  # dead-lettered: its position goes with it
        assert await position(unit) == messages[2].offset


async def test_a_commit_wakes_only_the_consumers_of_the_topics_it_wrote(tmp_path: Path) -> None:
    """On the embedded bus every service shares one database: a commit wakes the
    subscriptions to the topics it wrote to, not every consumer (each would read for
    nothing)."""
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        bus = EmbeddedBus(unit.database)
        qualifiers = bus.subscribe("t.router", ["t.qualifier"])
        erasures = bus.subscribe("t.ingest", ["t.audit"])
        everything = bus.subscribe("t.audit", ["t.qualifier", "t.audit"])
        qualifier = UnitOfWork(unit.database, "qualifier", unit.clock, "t")
        async with qualifier.transaction() as tx:
            await emit(tx, disqualified("woken"))
        assert isinstance(qualifiers, EmbeddedSubscription)
        assert isinstance(erasures, EmbeddedSubscription)
        assert isinstance(everything, EmbeddedSubscription)
        assert qualifiers.wake.is_set()
        assert everything.wake.is_set()
        assert not erasures.wake.is_set()


async def test_a_subscription_at_the_end_of_the_log_reads_again_only_when_woken(
    tmp_path: Path,
) -> None:
    """After a read that drained the log, the next fetch waits for a commit to its topics
    instead of reading for nothing first: one read per wake-up, not two."""
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner = await run_with(unit, None, ["first"])
        subscription = runner.subscription
        assert isinstance(subscription, EmbeddedSubscription)
        await subscription.start()
        reads = 0
        read = subscription._read

        async def counted(max_records: int) -> list[Any]:
            nonlocal reads
            reads += 1
            return await read(max_records)

        subscription._read = counted  # type: ignore[method-assign]
        assert [m.key for m in await subscription.fetch(10, 0.1)] == ["first"]
        assert reads == 1

        async def commit_later() -> None:
            await asyncio.sleep(0.05)
            qualifier = UnitOfWork(unit.database, "qualifier", unit.clock, unit.topic_namespace)
            async with qualifier.transaction() as tx:
                await emit(tx, disqualified("second"))

        later = asyncio.create_task(commit_later())
        assert [m.key for m in await subscription.fetch(10, 5.0)] == ["second"]
        await later
        assert reads == 2
        # A rewind reads again at once, woken or not.
        subscription.seek(0)
        assert [m.key for m in await subscription.fetch(10, 5.0)] == ["first", "second"]
        assert reads == 3


async def test_a_lingering_consumer_takes_what_arrives_meanwhile_in_the_same_batch(
    tmp_path: Path,
) -> None:
    runs: list[list[str]] = []

    async def batch(tx: Tx, events: Sequence[Incoming[LeadDisqualified]]) -> None:
        runs.append([e.data.lead_id for e in events])

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        runner = await run_with(unit, batch, ["a"])
        runner.handlers, runner.batch_handlers = {}, {LeadDisqualified: batch}
        runner.linger_s = 0.3
        qualifier = UnitOfWork(unit.database, "qualifier", unit.clock, unit.topic_namespace)

        async def emit_meanwhile() -> None:
            await asyncio.sleep(0.1)
            async with qualifier.transaction() as tx:
                await emit(tx, disqualified("b"))

        async def both_handled() -> bool:
            return await handled_count(unit) == 2

        meanwhile = asyncio.create_task(emit_meanwhile())
        task = asyncio.create_task(runner.run())
        try:
            await eventually(both_handled)
        finally:
            await runner.stop()
            await meanwhile
            await asyncio.wait_for(task, 5)
        assert runs == [["a", "b"]]


async def test_messages_a_consumer_does_not_handle_are_passed_over_without_a_transaction(
    tmp_path: Path,
) -> None:
    """On the embedded log, a batch holding nothing this consumer handles opens no
    transaction; its position is stored with the next one, or when the consumer is idle."""
    handled: list[str] = []

    async def handler(tx: Tx, event: Incoming[Any]) -> None:
        handled.append(event.envelope.subject)

    async def position(unit: UnitOfWork) -> int | None:
        async with unit.read() as conn:
            return await conn.scalar(
                select(embedded_offsets.c.position).where(embedded_offsets.c.group_id == "t.test")
            )

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        bus = EmbeddedBus(unit.database)
        audit = UnitOfWork(unit.database, "audit", unit.clock, "t")
        qualifier = UnitOfWork(unit.database, "qualifier", unit.clock, "t")
        for name in ("other-1", "other-2"):
            async with qualifier.transaction() as tx:
                await emit(tx, disqualified(name), subject=name)
        async with audit.transaction() as tx:
            now = datetime(2026, 1, 1, tzinfo=UTC)
            erasure = ErasureRequested(lead_id="erase", erasure_id="e", requested_at=now)
            await emit(tx, erasure, subject="erase")
        # Subscribed to the qualifier's topic, handling none of its events.
        runner = ConsumerRunner(
            unit,
            bus.subscribe("t.test", ["t.audit", "t.qualifier"]),
            {ErasureRequested: handler},
            group="t.test",
            max_attempts=3,
            retry_backoff_s=0.001,
            batch_size=10,
        )
        await runner.subscription.start()
        messages = await runner.subscription.fetch(10, 0.1)
        assert [m.key for m in messages] == ["other-1", "other-2", "erase"]
        transactions = 0
        begin = unit.transaction

        def counted() -> Any:
            nonlocal transactions
            transactions += 1
            return begin()

        unit.transaction = counted  # type: ignore[method-assign]
        assert await runner.handle_together(messages[:1])
        await runner.handle(messages[1])
        assert transactions == 0
        assert await position(unit) is None
        # The next transaction stores the position past all of them.
        await runner.handle(messages[2])
        assert transactions == 1
        assert handled == ["erase"]
        assert await position(unit) == messages[2].offset
        assert runner._unstored == []

        # Alone and idle: the runner stores the position of what it passed over by itself.
        async with qualifier.transaction() as tx:
            await emit(tx, disqualified("other-3"), subject="other-3")
        task = asyncio.create_task(runner.run())
        try:

            async def moved() -> bool:
                return (await position(unit) or 0) > messages[2].offset

            await eventually(moved)
        finally:
            await runner.stop()
            await task
        assert handled == ["erase"]


class BrokerLike:
    """A subscription whose offsets live outside the database (as Kafka's): it records the
    offsets committed."""

    def __init__(self, messages: list[Any]) -> None:
        self.pending = list(messages)
        self.commits: list[list[int]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def fetch(self, max_records: int, timeout_s: float) -> list[Any]:
        if not self.pending:
            await asyncio.sleep(min(timeout_s, 0.01))
            return []
        return [self.pending.pop(0)]

    async def commit(self, handled: Sequence[Any]) -> None:
        if handled:
            self.commits.append(sorted(m.offset for m in handled))

    async def rewind(self, message: Any) -> None:
        self.pending.insert(0, message)


async def test_on_a_broker_what_is_passed_over_is_committed_with_the_next_commit(
    tmp_path: Path,
) -> None:
    """Offsets of messages a consumer handles none of go with the next offset commit (or
    when idle): not one round trip to the broker each."""
    handled: list[str] = []

    async def handler(tx: Tx, event: Incoming[Any]) -> None:
        handled.append(event.envelope.subject)

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        embedded = EmbeddedBus(unit.database).subscribe("t.read", ["t.qualifier", "t.audit"])
        qualifier = UnitOfWork(unit.database, "qualifier", unit.clock, "t")
        audit = UnitOfWork(unit.database, "audit", unit.clock, "t")
        for name in ("other-1", "other-2"):
            async with qualifier.transaction() as tx:
                await emit(tx, disqualified(name), subject=name)
        async with audit.transaction() as tx:
            now = datetime(2026, 1, 1, tzinfo=UTC)
            erasure = ErasureRequested(lead_id="erase", erasure_id="e", requested_at=now)
            await emit(tx, erasure, subject="erase")
        await embedded.start()
        messages = await embedded.fetch(10, 0.1)
        broker = BrokerLike(messages)
        runner = ConsumerRunner(
            unit,
            broker,
            {ErasureRequested: handler},
            group="t.test",
            max_attempts=3,
            retry_backoff_s=0.001,
            batch_size=10,
        )
        task = asyncio.create_task(runner.run())
        try:
            await eventually(lambda: asyncio.sleep(0, runner.idle.is_set() and handled))
        finally:
            await runner.stop()
            await task
        assert handled == ["erase"]
        # One commit for the three: the two passed over went with the handled one.
        assert broker.commits == [[m.offset for m in messages]]
