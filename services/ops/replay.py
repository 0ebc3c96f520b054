"""`leadfarm replay --service <name> --since <time>`: rebuild a service's read models by
re-consuming its input topics from the offsets at that time.

Which services: only those whose handlers are **projections** (state derived from events
and nothing else) can be replayed. Today that is audit: its archive (`audit_events`, one
row per event id) and the read models built from it. The others own decisions (the
qualifier's verdicts, the router's assignments, nurture's enrolments, ingest's leads); their
handlers emit events, schedule timers and call reps' tools, so re-running them would decide
again, not rebuild: they are refused.

How a replay runs:
- the service must be stopped (its consumer group has no active member; on the embedded
  runtime no `leadfarm up` holds the data directory), so the replay is the only writer;
- the input topics are read from the first offset at or after `since` (Kafka
  `offsets_for_times`; embedded: the first log row created at or after `since`) up to the
  end offsets taken when the replay starts, with no consumer group (nothing is committed:
  the service resumes from its own committed offsets, and a replay can be run again);
- each event goes to the service's handler in its own transaction **without the inbox
  check** (the inbox row is written if missing);
- anything the handler says (`emit`) during a replay is discarded in the same transaction
  and counted: a rebuild never re-announces what was announced the first time.

audit's handler archives an event once by its id and updates the read models only when the
event is new to the archive, so replaying events it still has changes nothing, and events
it lost (a database restored from a backup, rows deleted by mistake) are archived and
projected again exactly once. To rebuild read models that are wrong rather than missing,
delete the affected leads' rows (archive included) first; docs/operations.md has the SQL.
"""

from __future__ import annotations

import fcntl
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import delete, func, select

from contracts.topics import ServiceName
from services.bus.base import Message
from services.bus.embedded import EmbeddedSubscription
from services.consumer import Incoming, decode_message, is_transient
from services.decoding import PoisonMessage
from services.inbox import claim
from services.ops.lag import topic_partitions
from services.runtime import Runtime
from services.spec import ServiceSpec
from services.tables import outbox

log = logging.getLogger(__name__)

REPLAYABLE: dict[ServiceName, str] = {
    "audit": "the archive and every read model built from it (projections only)",
}
REFUSED: dict[ServiceName, str] = {
    "ingest": "ingest consumes nothing: its leads come over HTTP, not from topics",
    "qualifier": "its handlers decide and emit lead.qualified/deferred/disqualified",
    "router": "its handlers assign leads, schedule SLA timers and call reps' webhooks",
    "nurture": "its handlers enrol leads and schedule touches that send messages",
}


class ReplayRefused(Exception):
    """The replay would not be safe (or is not possible); the message says why."""


@dataclass
class ReplayReport:
    service: ServiceName
    since: datetime
    read: int = 0
    applied: int = 0
    ignored: int = 0
    failed: int = 0
    emits_suppressed: int = 0
    not_events: int = 0
    failures: list[str] = field(default_factory=list)


_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime) -> datetime:
    """`2h`, `30m`, `7d` (before now) or an ISO 8601 time (UTC when it names no zone)."""
    match = _DURATION.match(value.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"--since {value!r}: give a duration (30m, 2h, 7d) or an ISO 8601 time"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_replayable(service: ServiceName) -> None:
    if service not in REPLAYABLE:
        raise ReplayRefused(
            f"{service} cannot be replayed: {REFUSED.get(service, 'not a projection')}. "
            f"Replayable: {', '.join(REPLAYABLE)}."
        )


def data_dir_lock(data_dir: Path) -> Path:
    return data_dir / "leadfarm.lock"


def embedded_in_use(data_dir: Path) -> bool:
    """True when a running embedded runtime holds the data directory's lock."""
    path = data_dir_lock(data_dir)
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


async def active_members(runtime: Runtime, group: str) -> int:
    """How many members the consumer group has now (0 when the service is stopped)."""
    if runtime.mode == "embedded":
        return 1 if embedded_in_use(runtime.settings.data_dir) else 0
    admin = AIOKafkaAdminClient(bootstrap_servers=runtime.settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    # DescribeGroups: groups = [(error_code, group_id, state, protocol_type, protocol,
    # members, ...)]
    return sum(len(g[5]) for response in responses for g in response.groups)


async def replay(runtime: Runtime, service: ServiceName, since: datetime) -> ReplayReport:
    """Rebuild `service`'s read models from its input topics since `since` (see above)."""
    check_replayable(service)
    spec = next((s for s in runtime.specs if s.name == service), None)
    if spec is None or not spec.event_types():
        raise ReplayRefused(f"{service} has no event handlers in this runtime")
    namespace = runtime.settings.topic_namespace
    group = spec.group(namespace)
    members = await active_members(runtime, group)
    if members:
        where = (
            f"consumer group {group} has {members} active member(s)"
            if runtime.mode == "cluster"
            else f"a `leadfarm up` holds {runtime.settings.data_dir}"
        )
        raise ReplayRefused(f"stop {service} first: {where}")
    report = ReplayReport(service, since)
    source: _Source = (
        await _EmbeddedSource.open(runtime, group, spec.topics(namespace), since)
        if runtime.mode == "embedded"
        else await _KafkaSource.open(runtime, spec.topics(namespace), since)
    )
    try:
        while not source.done():
            for message in await source.fetch(runtime.settings.consumer_batch_size):
                report.read += 1
                await _apply(runtime, service, group, spec, message, report)
    finally:
        await source.close()
    log.info(
        "replay of %s since %s: %d read, %d applied, %d emits suppressed, %d failed",
        service,
        since.isoformat(),
        report.read,
        report.applied,
        report.emits_suppressed,
        report.failed,
    )
    return report


async def _apply(
    runtime: Runtime,
    service: ServiceName,
    group: str,
    spec: ServiceSpec,
    message: Message,
    report: ReplayReport,
) -> None:
    try:
        envelope, data = decode_message(message)
    except PoisonMessage:
        report.not_events += 1
        return
    handler = spec.handler_of(type(data))
    if handler is None:
        report.ignored += 1
        return
    unit = runtime.units[service]
    try:
        async with unit.transaction() as tx:
            before = await tx.conn.scalar(
                select(func.coalesce(func.max(outbox.c.id), 0)).where(outbox.c.service == service)
            )
            await handler(tx, Incoming(envelope, data))
            await tx.flush()
            if tx.emitted:
                # The replay is the only writer of this service's outbox (the service is
                # stopped), so the rows after `before` are exactly what the handler said.
                result = await tx.conn.execute(
                    delete(outbox).where(outbox.c.service == service, outbox.c.id > before)
                )
                report.emits_suppressed += result.rowcount
                tx.emitted = 0
            await claim(tx, group, [envelope.id])
        report.applied += 1
    except Exception as exc:
        if is_transient(exc):
            raise
        report.failed += 1
        report.failures.append(f"{envelope.type} {envelope.id}: {type(exc).__name__}: {exc}")
        log.warning("replay: %s %s failed: %r", envelope.type, envelope.id, exc)


class _Source(ABC):
    """Where replayed events come from: the embedded log or Kafka."""

    @abstractmethod
    async def fetch(self, max_records: int) -> list[Message]: ...

    @abstractmethod
    def done(self) -> bool: ...

    async def close(self) -> None:
        return None


class _EmbeddedSource(_Source):
    """The log from the first row created at or after `since` up to the end at start."""

    def __init__(self, subscription: EmbeddedSubscription, start: int, end: int) -> None:
        self.subscription = subscription
        self.end = end
        self.position = start

    @classmethod
    async def open(
        cls, runtime: Runtime, group: str, topics: Sequence[str], since: datetime
    ) -> _EmbeddedSource:
        async with runtime.database.connect() as conn:
            start = await conn.scalar(
                select(func.coalesce(func.max(outbox.c.id), 0)).where(outbox.c.created_at < since)
            )
            end = await conn.scalar(select(func.coalesce(func.max(outbox.c.id), 0)))
        subscription = EmbeddedSubscription(runtime.database, f"{group}.replay", topics)
        subscription.seek(int(start or 0))
        return cls(subscription, int(start or 0), int(end or 0))

    async def fetch(self, max_records: int) -> list[Message]:
        messages = await self.subscription.fetch(max_records, timeout_s=0)
        if not messages:  # nothing more on these topics
            self.position = self.end
            return []
        self.position = messages[-1].offset
        return [m for m in messages if m.offset <= self.end]

    def done(self) -> bool:
        return self.position >= self.end


class _KafkaSource(_Source):
    """Each partition from the offset at `since` up to its end offset at start; no group."""

    def __init__(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        self.consumer = consumer
        self.ends = ends
        self.positions: dict[TopicPartition, int] = {}

    @classmethod
    async def open(cls, runtime: Runtime, topics: Sequence[str], since: datetime) -> _KafkaSource:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=runtime.settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        admin = AIOKafkaAdminClient(bootstrap_servers=runtime.settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            partitions = await topic_partitions(admin, list(topics))
        finally:
            await admin.close()
        await consumer.start()
        try:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions) if partitions else {}
            at = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in partitions}
            )
            source = cls(consumer, ends)
            for tp in partitions:
                found = at.get(tp)
                offset = found.offset if found is not None else ends[tp]
                consumer.seek(tp, offset)
                source.positions[tp] = offset
            return source
        except BaseException:
            await consumer.stop()
            raise

    async def fetch(self, max_records: int) -> list[Message]:
        batches = await self.consumer.getmany(timeout_ms=500, max_records=max_records)
        messages: list[Message] = []
        for tp, records in batches.items():
            for r in records:
                if r.offset < self.ends[tp]:
                    messages.append(
                        Message(
                            r.topic,
                            r.partition,
                            r.offset,
                            r.key.decode() if r.key else None,
                            r.value or b"",
                        )
                    )
        for tp in self.ends:
            self.positions[tp] = await self.consumer.position(tp)
        return messages

    def done(self) -> bool:
        return all(self.positions[tp] >= end for tp, end in self.ends.items())

    async def close(self) -> None:
        await self.consumer.stop()
