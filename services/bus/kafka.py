"""The Kafka bus (aiokafka), set up for not losing leads.

aiokafka's defaults suit fire-and-forget telemetry, not leads, so:
- the producer is idempotent with acks=all, and every send is awaited under a timeout;
- consumers never auto-commit, start new groups at the earliest offset, and commit by hand
  the last handled offset + 1, only after the handler's transaction committed and only for
  partitions still assigned to them.

Offsets are committed off the consumer's path: `commit` notes them and returns, and one
task per subscription commits what is noted, at most every `commit_interval_s`. A consumer
therefore never waits for the broker between two batches, and under load one commit covers
many batches. What was noted but not committed when a process dies is read again after the
restart, which the inbox makes a no-op: the same as a crash between the transaction and a
synchronous commit, over at most `commit_interval_s` of events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
)

from contracts.envelope import structured_mode_headers
from services import tracing
from services.bus.base import Message, Subscription
from services.outbox import OutboundRecord

log = logging.getLogger(__name__)


class KafkaBus:
    def __init__(self, bootstrap_servers: str, *, send_timeout_s: float, client_id: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.send_timeout_s = send_timeout_s
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._discarded = False
        self._subscriptions: list[KafkaSubscription] = []

    async def start(self) -> None:
        self._producer = self._new_producer()
        await self._producer.start()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=self.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            request_timeout_ms=int(self.send_timeout_s * 1000),
        )

    async def _current_producer(self) -> AIOKafkaProducer:
        """The producer, a fresh one if the last send failed (see `publish`)."""
        if self._producer is None:
            raise RuntimeError("kafka producer not started")
        if self._discarded:
            producer = self._new_producer()
            await producer.start()  # raises while the broker is away; the caller retries
            self._producer, self._discarded = producer, False
        return self._producer

    async def _discard_producer(self, producer: AIOKafkaProducer) -> None:
        """Drop a producer and the batches it still holds, without sending them.

        `stop()` would flush them first, which cannot finish while the broker is away.
        """
        if self._producer is not producer or self._discarded:
            return
        self._discarded = True
        dropped: Any = producer  # aiokafka has no public "close without flushing"
        with contextlib.suppress(Exception):
            dropped._closed = True
            await dropped._sender.close()  # cancels the sender: pending batches are dropped
            await dropped.client.close()

    async def stop(self) -> None:
        for sub in self._subscriptions:
            await sub.stop()
        if self._producer is not None:
            try:
                await self._producer.stop()
            except Exception as exc:  # noqa: BLE001 - unsent rows stay in the outbox
                log.warning("kafka producer did not stop cleanly: %r", exc)
            self._producer = None

    async def ping(self) -> None:
        producer = await asyncio.wait_for(self._current_producer(), timeout=3)
        # The producer's metadata refresh talks to the cluster; a dead broker makes it time out.
        await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=3)

    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        producer = await self._current_producer()

        async def send_all() -> None:
            pending = []
            for r in records:
                with _trace_context(record_headers(r)) as headers:
                    pending.append(
                        await producer.send(
                            r.topic,
                            value=r.value,
                            key=r.key.encode() if r.key else None,
                            headers=[(k, v.encode()) for k, v in headers.items()],
                        )
                    )
            await asyncio.gather(*pending)

        try:
            await asyncio.wait_for(send_all(), timeout=self.send_timeout_s)
        except Exception:
            # A send that failed or timed out leaves batches in the producer whose sequence
            # numbers the broker never stored. The idempotent producer keeps counting, so
            # after a broker restart every later send of this producer id fails with
            # OutOfOrderSequenceNumber, forever: the service's events stop for good (found by
            # the fault suite). The rows are still unsent in the outbox; the relay's next
            # round sends them through a fresh producer (new id, sequences from 0).
            await self._discard_producer(producer)
            raise

    def subscribe(self, group: str, topics: Sequence[str]) -> Subscription:
        sub = KafkaSubscription(self.bootstrap_servers, group, topics, self.client_id)
        self._subscriptions.append(sub)
        return sub


def record_headers(record: OutboundRecord) -> dict[str, str]:
    """A record's headers. An outbox row with no headers at all was written by `emit`
    before events carried their content type (dead letters and replays always had
    headers), so it gets the structured-mode header a CloudEvents SDK needs."""
    return record.headers or structured_mode_headers()


def kafka_headers(record: OutboundRecord) -> list[tuple[str, bytes]]:
    """A record's headers as Kafka takes them (tracing off)."""
    return [(name, value.encode()) for name, value in record_headers(record).items()]


def message_of(record: ConsumerRecord[bytes, bytes]) -> Message:
    """A fetched record as the runner takes it. Its key and headers are read as UTF-8 with
    bad bytes replaced: any producer can write to a topic, and a key or header that is not
    UTF-8 must not stop the consumer at that offset (the record's value, the event, is
    judged by the runner, which dead-letters what is not an event)."""
    return Message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode(errors="replace") if record.key else None,
        value=record.value or b"",
        headers={k: v.decode(errors="replace") for k, v in (record.headers or ())},
    )


def _trace_context(headers: dict[str, str]) -> contextlib.AbstractContextManager[dict[str, str]]:
    """With tracing on, send a record in the trace context its outbox row carries: aiokafka's
    instrumentation starts its `send` span there and writes that span's `traceparent` and
    `tracestate` into the record's headers, so the row's own are left out (a record with
    two `traceparent` headers would be ambiguous). With tracing off, the headers go as
    they are."""
    if not tracing.enabled or "traceparent" not in headers:
        return contextlib.nullcontext(headers)
    return tracing.continued(headers, drop=tracing.TRACE_HEADERS)


COMMIT_INTERVAL_S = 0.05
"""How often a subscription commits its noted offsets at most: about one commit per 50 ms
per consumer under load instead of one per batch, and what a crash re-reads stays small."""

COMMIT_RETRY_S = 1.0
"""After a commit failed for want of the broker, how long before the noted offsets are
tried again (with whatever was noted since)."""


class KafkaSubscription:
    def __init__(
        self,
        bootstrap_servers: str,
        group: str,
        topics: Sequence[str],
        client_id: str,
        *,
        commit_interval_s: float = COMMIT_INTERVAL_S,
    ) -> None:
        self.commit_interval_s = commit_interval_s
        self._noted: dict[TopicPartition, int] = {}
        """Offsets to commit (next to read, per partition), noted after their transaction."""
        self._commit_wanted = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self._consumer.subscribe(list(topics), listener=_CommitOnRevoke(self))
        self._started = False

    async def start(self) -> None:
        await self._consumer.start()
        self._started = True
        self._committer = asyncio.create_task(self._commit_noted(), name="offset-committer")

    async def stop(self) -> None:
        if self._started:
            self._started = False
            if self._committer is not None:
                self._committer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._committer
                self._committer = None
            with contextlib.suppress(KafkaError, OSError):
                # what is left is read again after the restart (the inbox absorbs it)
                await self._commit_once()
            try:
                await self._consumer.stop()
            except Exception as exc:  # noqa: BLE001 - offsets were committed as we went
                # Leaving the group needs the broker; if it is gone the group's session
                # times out instead, and shutdown must still finish.
                log.warning("kafka consumer did not stop cleanly: %r", exc)

    async def fetch(self, max_records: int, timeout_s: float) -> list[Message]:
        batches = await self._consumer.getmany(
            timeout_ms=int(timeout_s * 1000), max_records=max_records
        )
        return [message_of(r) for records in batches.values() for r in records]

    async def commit(self, handled: Sequence[Message]) -> None:
        """Note the offsets of `handled` (whose transaction committed) for the committer."""
        for m in handled:
            tp = TopicPartition(m.topic, m.partition)
            self._noted[tp] = max(self._noted.get(tp, 0), m.offset + 1)
        if self._noted:
            self._commit_wanted.set()

    async def _commit_noted(self) -> None:
        """Commit what is noted, then rest `commit_interval_s`; on a broker error keep it
        noted and try again after `COMMIT_RETRY_S`."""
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            try:
                await self._commit_once()
            except (KafkaError, OSError) as exc:
                log.warning("offset commit failed, kept for the next one: %r", exc)
                self._commit_wanted.set()
                await asyncio.sleep(COMMIT_RETRY_S)
                continue
            await asyncio.sleep(self.commit_interval_s)

    async def commit_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before a rebalance gives partitions to another member: commit what is noted for
        them (they are still ours), and forget it, so that a partition that comes back later
        is never committed back to an older offset."""
        offsets = {tp: self._noted.pop(tp) for tp in revoked if tp in self._noted}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (KafkaError, OSError) as exc:
            log.warning("offset commit before a rebalance failed (read again): %r", exc)

    async def _commit_once(self) -> None:
        noted, self._noted = self._noted, {}
        assigned = self._consumer.assignment()
        offsets = {tp: o for tp, o in noted.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took the partition away; its new owner re-reads from the last
            # commit and the inbox makes the repeats no-ops.
            log.warning("offset commit skipped after rebalance: %s", exc)
        except BaseException:
            for tp, offset in offsets.items():  # noted again, unless newer ones are
                self._noted[tp] = max(self._noted.get(tp, 0), offset)
            raise

    async def lag(self) -> dict[tuple[str, int], int]:
        """High watermark - position for each assigned partition the consumer has fetched."""
        lags: dict[tuple[str, int], int] = {}
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            position = await self._consumer.position(tp)
            lags[(tp.topic, tp.partition)] = max(highwater - position, 0)
        return lags

    async def rewind(self, message: Message) -> None:
        tp = TopicPartition(message.topic, message.partition)
        if tp in self._consumer.assignment():
            self._consumer.seek(tp, message.offset)


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, subscription: KafkaSubscription) -> None:
        self.subscription = subscription

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.subscription.commit_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None


async def create_topics(
    bootstrap_servers: str, topics: Sequence[str], partitions: int, replication_factor: int = 1
) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            t, num_partitions=partitions, replication_factor=replication_factor
                        )
                        for t in missing
                    ]
                )
        return missing
    finally:
        await admin.close()
