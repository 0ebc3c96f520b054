"""The transactional outbox: events are rows written in the same transaction as the state
that caused them. On the embedded runtime these rows *are* the event log; in the cluster
`OutboxRelay` publishes them to Kafka after commit and marks them sent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson
from sqlalchemy import bindparam, func, select, text, update

from contracts.envelope import Envelope, structured_mode_headers
from contracts.events import EventData, make_envelope
from contracts.topics import topic_for
from services import metrics, tracing
from services.db import Tx, UnitOfWork
from services.polling import PollingWorker
from services.tables import outbox

log = logging.getLogger(__name__)


async def emit(
    tx: Tx, data: EventData, *, traceparent: str | None = None, subject: str | None = None
) -> Envelope:
    """Say an event as part of `tx`: it is published if, and only if, `tx` commits. Its
    record carries the CloudEvents structured-mode header, and with tracing on the trace
    context of the event's own `create` span."""
    topic = topic_for(data.SERVICE, tx.unit.topic_namespace)
    headers = structured_mode_headers()
    if tracing.enabled:
        envelope = _traced_envelope(tx, data, topic, traceparent, subject, headers)
    else:
        envelope = make_envelope(data, time=tx.now(), traceparent=traceparent, subject=subject)
    await write_record(
        tx, topic, envelope.subject, envelope.to_json(), event_id=envelope.id, headers=headers
    )
    return envelope


def _traced_envelope(
    tx: Tx,
    data: EventData,
    topic: str,
    traceparent: str | None,
    subject: str | None,
    headers: dict[str, str],
) -> Envelope:
    """The envelope with tracing on: the event's own `create` span is its context, in the
    envelope and in the record's `headers` (added to) alike."""
    with tracing.creating_event(tx.service, topic, data.TYPE, traceparent) as created:
        envelope = make_envelope(
            data, time=tx.now(), subject=subject, own_traceparent=created.traceparent
        )
        created.describe(envelope.id, envelope.subject)
    headers.update(created.headers)
    return envelope


async def write_record(
    tx: Tx,
    topic: str,
    key: str | None,
    payload: bytes,
    *,
    event_id: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Append one record to the outbox (also how dead letters are written). The row is
    written with the transaction's other records at commit (`Tx.defer`)."""
    now = tx.now()
    tx.defer(
        _APPEND,
        {
            "event_id": event_id,
            "service": tx.service,
            "topic": topic,
            "key": key,
            "payload": payload.decode(),
            "headers": orjson.dumps(headers).decode() if headers else None,
            "created_at": now,
            # On SQLite the outbox is the log itself: a committed row is published.
            "published_at": now if tx.unit.database.is_sqlite else None,
        },
    )
    tx.emitted += 1
    tx.topics.add(topic)


# Built once: a statement built per call costs more CPU than SQLite takes to run it.
_APPEND = outbox.insert()
_LOCK_AND_READ_UNSENT = text(
    # One round trip: the relay's advisory lock (a CTE with a volatile function is run once,
    # never inlined) and, only when it is held, the oldest unsent rows. The first row says
    # whether the lock is held; with nothing unsent it is the only row, its id NULL.
    "WITH relay_lock AS (SELECT pg_try_advisory_xact_lock(:lock) AS held) "
    "SELECT relay_lock.held, unsent.id, unsent.topic, unsent.key, unsent.payload, "
    "unsent.headers FROM relay_lock LEFT JOIN LATERAL ("
    " SELECT id, topic, key, payload, headers FROM outbox"
    " WHERE relay_lock.held AND service = :service AND published_at IS NULL"
    " ORDER BY id LIMIT :limit"
    ") AS unsent ON true ORDER BY unsent.id"
)
_MARK_SENT = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("now"))
)
_BACKLOG = select(func.count()).where(
    outbox.c.service == bindparam("service"), outbox.c.published_at.is_(None)
)


@dataclass(frozen=True)
class OutboundRecord:
    topic: str
    key: str | None
    value: bytes
    headers: dict[str, str]


class Publisher(Protocol):
    async def publish(self, records: Sequence[OutboundRecord]) -> None:
        """Send all records and return once every one is acknowledged; raise otherwise."""
        ...


class OutboxRelay(PollingWorker):
    """Publishes a service's unsent outbox rows, oldest first, then marks them sent.

    One relay per service publishes at a time (a PostgreSQL advisory lock), which keeps a
    lead's events in order across replicas. A failed publish leaves the rows unsent; the
    next round retries them (waiting twice as long after each failure, up to 5 s), so an
    event accepted while Kafka is down goes out once it is back. A crash between publish and
    mark re-sends: consumers are idempotent (the inbox).
    """

    name = "outbox relay"

    def __init__(
        self, unit: UnitOfWork, publisher: Publisher, *, batch_size: int, poll_interval_s: float
    ) -> None:
        super().__init__(poll_interval_s, max_backoff_s=5.0)
        self.unit = unit
        self.publisher = publisher
        self.batch_size = batch_size
        self._lock_id = advisory_lock_id(unit.service)

    def on_events_committed(self, _topics: frozenset[str]) -> None:
        """A commit of this service wrote records: publish them now, not at the poll."""
        self.wake()

    async def round(self) -> bool:
        return await self.relay_once() >= self.batch_size

    def round_failed(self, exc: Exception) -> None:
        metrics.OUTBOX_RELAY_FAILURES.labels(self.unit.service).inc()

    async def stop(self) -> None:
        """Flush what is committed, then stop."""
        await super().stop()
        try:
            while await self.relay_once() > 0:
                pass
        except Exception as exc:  # noqa: BLE001 - unsent rows wait for the next start
            log.warning("outbox not fully flushed at shutdown: %s", exc)

    async def relay_once(self) -> int:
        async with self.unit.transaction() as tx:
            rows = (
                await tx.conn.execute(
                    _LOCK_AND_READ_UNSENT,
                    {"lock": self._lock_id, "service": tx.service, "limit": self.batch_size},
                )
            ).all()
            if not rows[0].held:  # another replica's relay is publishing
                return 0
            rows = [r for r in rows if r.id is not None]
            if not rows:
                metrics.OUTBOX_BACKLOG.labels(tx.service).set(0)
                return 0
            await self.publisher.publish(
                [
                    OutboundRecord(
                        topic=r.topic,
                        key=r.key,
                        value=r.payload.encode(),
                        headers=orjson.loads(r.headers) if r.headers else {},
                    )
                    for r in rows
                ]
            )
            await tx.conn.execute(_MARK_SENT, {"ids": [r.id for r in rows], "now": tx.now()})
            backlog = 0
            if len(rows) == self.batch_size:  # a full round: there may be more behind it
                backlog = max(
                    int(await tx.conn.scalar(_BACKLOG, {"service": tx.service}) or 0) - len(rows),
                    0,
                )
            metrics.OUTBOX_BACKLOG.labels(tx.service).set(backlog)
            metrics.EVENTS_PUBLISHED.labels(tx.service).inc(len(rows))
            return len(rows)


def advisory_lock_id(service: str) -> int:
    """A stable 63-bit PostgreSQL advisory-lock id of one service's relay. (It used to be
    the first 8 bytes of "lf-relay-<service>", the same for every service, so the five
    relays took turns behind one lock.)"""
    digest = hashlib.blake2b(f"leadfarm relay {service}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
