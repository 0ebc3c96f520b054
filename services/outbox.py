"""The transactional outbox: events are rows written in the same transaction as the state
that caused them. On the embedded runtime these rows *are* the event log; in the cluster
`OutboxRelay` publishes them to Kafka after commit and then deletes them (dead letters and
their replays stay, marked sent: `leadfarm dlq` reads them from here).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import Executable, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.envelope import Envelope, structured_mode_headers
from contracts.events import EventData, make_envelope
from contracts.topics import DLQ_SUFFIX, topic_for
from services import metrics, tracing
from services.db import Row, Tx, UnitOfWork, rows_of, statement_owner
from services.decoding import remember_said
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
    payload = envelope.to_json()
    remember_said(payload, envelope, data)  # its consumers in this process need not parse it
    await write_record(tx, topic, envelope.subject, payload, event_id=envelope.id, headers=headers)
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
_TAKE_THE_LEAD = text("SELECT pg_try_advisory_lock(:lock) AS taken")
_MARKS = (
    # What the last round published leaves the outbox: Kafka has it now, and an UPDATE
    # would write a new copy of every row (its payload too) and of its index entries. Dead
    # letters and their replays stay, marked published: `leadfarm dlq` reads them here,
    # and a replay's row is what makes a dead letter replayed at most once
    # (services/ops/dlq.py). Data-modifying CTEs run to completion whether or not the
    # query reads them.
    "gone AS (DELETE FROM outbox WHERE id = ANY(CAST(:sent AS BIGINT[]))"
    " AND topic NOT LIKE :dead AND event_id NOT LIKE :replay),"
    " kept AS (UPDATE outbox SET published_at = :now WHERE id = ANY(CAST(:sent AS BIGINT[]))"
    " AND (topic LIKE :dead OR event_id LIKE :replay))"
)
_MARK_AND_READ_UNSENT = text(
    # One round trip: mark what the last round published, then read the oldest unsent
    # rows. Both see the statement's one snapshot, so the rows just marked are left out by
    # id.
    f"WITH {_MARKS}"  # noqa: S608 - a constant of this module, no input
    " SELECT id, topic, key, payload, headers FROM outbox"
    " WHERE service = :service AND published_at IS NULL"
    " AND id <> ALL(CAST(:sent AS BIGINT[])) ORDER BY id LIMIT :limit"
)
_MARK_SENT = text(f"WITH {_MARKS} SELECT 1 AS marked")
_INDEX_SCANS_ONLY = text(
    # The relay's own connection plans its statements as index scans, whatever the
    # statistics say. PostgreSQL keeps the plan a prepared statement got once it has run a
    # few times, and one planned while the outbox was small (a new deployment, before
    # autovacuum's first ANALYZE) reads the whole table: to mark the ids just sent, and past
    # every published row. A round then cost O(outbox): 2.7 ms at 20,000 rows, against a
    # flat 0.5 ms with index scans (both round trip included). Bitmap scans go too: only a
    # plain index scan marks the index entries of rows published (dead to the partial
    # index) so that the next round skips them.
    "SELECT set_config('enable_seqscan', 'off', false),"
    " set_config('enable_bitmapscan', 'off', false)"
)
REPLAY_PREFIX = "replay-"
"""The outbox event id of a dead letter's replay is this and the dead letter's event id."""
REPLAY_FOR_HEADER = "x-leadfarm-replay-for"
"""A replay's record names the consumer group that dead-lettered it; the other groups of
its topic pass it over (services/consumer.py), having handled the event the first time."""

_KEPT = {"dead": f"%{DLQ_SUFFIX}", "replay": f"{REPLAY_PREFIX}%"}
_BACKLOG = select(func.count().label("n")).where(
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
    """Publishes a service's unsent outbox rows, oldest first, then marks them sent:
    deletes them, but dead letters and their replays, which it marks published.

    One relay per service publishes at a time, which keeps a lead's events in order across
    replicas: the one whose connection holds the service's advisory lock (session-level,
    taken once and held on a connection of the relay's own, in autocommit). The others try
    at each round and publish nothing. A round is one statement: it marks what the last
    round published and reads what is unsent; what a round publishes is marked by the next
    one, which comes with the next commit, or at the poll interval when idle, or at stop.

    A failed publish leaves the rows unsent; the next round retries them (waiting twice as
    long after each failure, up to 5 s), so an event accepted while Kafka is down goes out
    once it is back. A crash before the mark (or the loss of the connection, which gives the
    lead to another replica) re-sends what was published since the last mark: consumers
    are idempotent (the inbox).
    """

    name = "outbox relay"

    def __init__(
        self,
        unit: UnitOfWork,
        publisher: Publisher,
        *,
        batch_size: int,
        poll_interval_s: float,
    ) -> None:
        super().__init__(poll_interval_s, max_backoff_s=5.0)
        self.unit = unit
        self.publisher = publisher
        self.batch_size = batch_size
        self._lock_id = advisory_lock_id(unit.service)
        self._conn: AsyncConnection | None = None
        """The relay's own connection (autocommit); while `leading`, it holds the lock."""
        self.leading = False
        self._published: list[int] = []
        """Ids published and not marked yet (the next round marks them)."""
        self._using = asyncio.Lock()
        """One user of the connection at a time (`stop` flushes while a round may run)."""

    def on_events_committed(self, _topics: frozenset[str]) -> None:
        """A commit of this service wrote records: publish them now, not at the poll."""
        self.wake()

    async def round(self) -> bool:
        return await self.relay_once() >= self.batch_size

    def round_failed(self, exc: Exception) -> None:
        metrics.OUTBOX_RELAY_FAILURES.labels(self.unit.service).inc()

    async def stop(self) -> None:
        """Flush what is committed, mark it, then stop (giving up the lead)."""
        await super().stop()
        try:
            while await self.relay_once() > 0:
                pass
            await self.release()
        except Exception as exc:  # noqa: BLE001 - unsent rows wait for the next start
            log.warning("outbox not fully flushed at shutdown: %s", exc)

    async def close(self) -> None:
        async with self._using:
            await self._drop_connection()

    async def release(self) -> None:
        """Mark what was published and give up the lead (close the connection)."""
        async with self._using:
            if self._published and self._conn is not None:
                await self._statement(_MARK_SENT, {})
            await self._drop_connection()

    async def relay_once(self) -> int:
        """Publish the oldest unsent rows (up to a batch); how many."""
        async with self._using:
            return await self._relay()

    async def _relay(self) -> int:
        if not self.leading:
            taken = await self._statement(_TAKE_THE_LEAD, {"lock": self._lock_id})
            self.leading = bool(taken[0]["taken"])
            if not self.leading:  # another replica's relay is publishing
                return 0
        rows = await self._statement(
            _MARK_AND_READ_UNSENT, {"service": self.unit.service, "limit": self.batch_size}
        )
        if not rows:
            metrics.OUTBOX_BACKLOG.labels(self.unit.service).set(0)
            return 0
        await self.publisher.publish(
            [
                OutboundRecord(
                    topic=r["topic"],
                    key=r["key"],
                    value=r["payload"].encode(),
                    headers=orjson.loads(r["headers"]) if r["headers"] else {},
                )
                for r in rows
            ]
        )
        self._published.extend(r["id"] for r in rows)
        backlog = 0
        if len(rows) == self.batch_size:  # a full round: there may be more behind it
            counted = (await self._statement(_BACKLOG, {"service": self.unit.service}))[0]["n"]
            backlog = max(int(counted or 0) - len(rows), 0)
        metrics.OUTBOX_BACKLOG.labels(self.unit.service).set(backlog)
        metrics.EVENTS_PUBLISHED.labels(self.unit.service).inc(len(rows))
        return len(rows)

    async def _statement(self, statement: Executable, params: dict[str, Any]) -> Sequence[Row]:
        """Run one statement on the relay's connection (the marks pending go with those
        that take them: `now` and `sent` are filled in here). A database error drops the
        connection, and the lead with it."""
        owner = statement_owner.set(self.unit.service)
        marking = statement is _MARK_AND_READ_UNSENT or statement is _MARK_SENT
        if marking:
            params = {
                **params,
                **_KEPT,
                "now": self.unit.clock.now(),
                "sent": list(self._published),
            }
        try:
            if self._conn is None:
                self._conn = await self.unit.database.engine.connect()
                await self._conn.execution_options(isolation_level="AUTOCOMMIT")
                await self._conn.execute(_INDEX_SCANS_ONLY)
            result = await rows_of(self._conn, statement, params)
        except BaseException:
            await self._drop_connection()
            raise
        finally:
            statement_owner.reset(owner)
        if marking:
            self._published.clear()
        return result

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        self.leading = False
        self._published.clear()  # unmarked: re-sent by whoever leads next
        if conn is not None:
            with contextlib.suppress(Exception):
                # Closed for good, never back to the pool: its session holds the lock.
                await conn.invalidate()
                await conn.close()


def advisory_lock_id(service: str) -> int:
    """A stable 63-bit PostgreSQL advisory-lock id of one service's relay. (It used to be
    the first 8 bytes of "lf-relay-<service>", the same for every service, so the five
    relays took turns behind one lock.)"""
    digest = hashlib.blake2b(f"leadfarm relay {service}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1
