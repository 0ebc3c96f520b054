"""The Kafka bus (aiokafka), set up for not losing leads.

aiokafka's defaults suit fire-and-forget telemetry, not leads, so:
- the producer is idempotent with acks=all, and every send is awaited under a timeout;
- consumers never auto-commit, start new groups at the earliest offset, and commit by hand
  the last handled offset + 1, only after the handler's transaction committed and only for
  partitions still assigned to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, IllegalStateError, TopicAlreadyExistsError

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


class KafkaSubscription:
    def __init__(
        self, bootstrap_servers: str, group: str, topics: Sequence[str], client_id: str
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self._started = False

    async def start(self) -> None:
        await self._consumer.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
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
        offsets: dict[TopicPartition, int] = {}
        for m in handled:
            tp = TopicPartition(m.topic, m.partition)
            offsets[tp] = max(offsets.get(tp, 0), m.offset + 1)
        assigned = self._consumer.assignment()
        offsets = {tp: o for tp, o in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took the partition away; its new owner re-reads from the last
            # commit and the inbox makes the repeats no-ops.
            log.warning("offset commit skipped after rebalance: %s", exc)

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
