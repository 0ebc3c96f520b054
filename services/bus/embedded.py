"""The embedded bus: the SQLite outbox table is the event log.

Every committed outbox row is a published event; its id is its offset. Each consumer group
keeps its position in `embedded_offsets`. A commit wakes the waiting consumers of the topics
it wrote to, in-process, so an event reaches its consumers within milliseconds with no
polling delay, and a consumer of other topics does not read for nothing.

The newest rows are read once for all the process's consumers (`LogTail`): each commit used
to wake two to five of them, each reading and copying the same new rows.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services import driversql
from services.bus.base import Message, Subscription
from services.db import Database, Tx
from services.tables import embedded_offsets, outbox

_MOVE = (
    embedded_offsets.update()
    .where(embedded_offsets.c.group_id == bindparam("group"))
    .values(position=bindparam("position"))
)
_START = embedded_offsets.insert()

TAIL_ROWS = 4096
"""The newest rows `LogTail` keeps (a few MB of payloads)."""

_COLUMNS = "SELECT id, topic, key, payload, headers FROM outbox"


def _message(row: Sequence[Any]) -> Message:
    offset, topic, key, payload, headers = row
    return Message(
        topic=topic,
        partition=0,
        offset=offset,
        key=key,
        value=payload.encode(),
        headers=orjson.loads(headers) if headers else {},
    )


class LogTail:
    """The newest rows of the log, read once for every subscription of the process.

    A commit wakes the subscriptions of the topics it wrote to, and each used to read the
    same new rows itself (at the embedded runtime's max rate, 16 rows read and copied per
    lead for the 5.3 its events wrote). The tail reads what was committed since its last
    read, all topics at once, the first time a subscription asks after a commit; every
    subscription then takes its topics' rows from memory. They share the `Message`s, so
    the consumers' record cache (`services.decoding`) finds a record by identity.

    It holds every row with `since < id <= through`, at most `capacity` of them. A
    subscription whose position is before `since` (starting with a backlog, a replay, a
    rewind past the tail) reads the table itself. Rows rewritten in place (erasure redacts
    the log) make it `forget` what it holds."""

    def __init__(self, database: Database, capacity: int = TAIL_ROWS) -> None:
        self.database = database
        self.capacity = capacity
        self.messages: list[Message] = []
        self.offsets: list[int] = []
        self.since: int | None = None
        """None: nothing read yet (or forgotten): the next read takes the newest rows."""
        self.through = 0
        self.stale = True
        """Something may have been committed since the last read."""

    def changed(self) -> None:
        """Rows may have been added to the log."""
        self.stale = True

    def forget(self) -> None:
        """Rows of the log were rewritten: hold nothing, read the newest rows again."""
        self.messages, self.offsets, self.since, self.through, self.stale = [], [], None, 0, True

    def read(
        self, cursor: int, topics: frozenset[str], limit: int
    ) -> tuple[list[Message], int] | None:
        """Up to `limit` rows of `topics` after `cursor`, and how far they reach: the last
        row's offset, or the end of the log when they are all there are (the reader has
        nothing more to look for before it). None when `cursor` is before what the tail
        holds."""
        if self.stale:
            self._catch_up()
        assert self.since is not None
        if cursor < self.since:
            return None
        found: list[Message] = []
        messages = self.messages
        for i in range(bisect.bisect_right(self.offsets, cursor), len(messages)):
            if messages[i].topic in topics:
                found.append(messages[i])
                if len(found) == limit:
                    return found, found[-1].offset
        return found, max(cursor, self.through)

    def _catch_up(self) -> None:
        """Read what was committed since the last read, newest first and at most
        `capacity` rows: after a burst larger than the tail, only its newest rows are
        held (the rows before them were never read only to be dropped)."""
        self.stale = False
        rows = self.database.sqlite_read(
            f"{_COLUMNS} WHERE id > ? ORDER BY id DESC LIMIT ?",
            (self.through, self.capacity),
        )
        rows.reverse()
        if self.since is None:
            self.since = self.through
        if len(rows) == self.capacity:  # there may be more before them: hold only these
            self.messages, self.offsets = [], []
            self.since = rows[0][0] - 1
        for row in rows:
            self.messages.append(_message(row))
            self.offsets.append(row[0])
        if rows:
            self.through = rows[-1][0]
        if len(self.messages) > self.capacity:
            dropped = len(self.messages) - self.capacity
            self.since = self.offsets[dropped - 1]
            del self.messages[:dropped], self.offsets[:dropped]


class EmbeddedBus:
    def __init__(self, database: Database) -> None:
        if not database.is_sqlite:
            raise ValueError("the embedded bus runs on the embedded SQLite database")
        self.database = database
        self._subscriptions: list[EmbeddedSubscription] = []
        self.tail = LogTail(database)
        database.on_events_committed(self.notify)
        database.on_log_rewritten(self.tail.forget)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for sub in self._subscriptions:
            await sub.stop()

    async def ping(self) -> None:
        await self.database.ping()

    def notify(self, topics: frozenset[str]) -> None:
        """A commit wrote records to `topics`: wake the subscriptions to any of them (the
        others would read and find nothing)."""
        self.tail.changed()
        for sub in self._subscriptions:
            if not sub.topic_set.isdisjoint(topics):
                sub.wake.set()

    def subscribe(self, group: str, topics: Sequence[str]) -> Subscription:
        sub = EmbeddedSubscription(self.database, group, topics, self.tail)
        self._subscriptions.append(sub)
        return sub


class EmbeddedSubscription:
    def __init__(
        self,
        database: Database,
        group: str,
        topics: Sequence[str],
        tail: LogTail | None = None,
    ) -> None:
        self.database = database
        self.tail = tail
        self.group = group
        self.topics = list(topics)
        self.topic_set = frozenset(self.topics)
        self.wake = asyncio.Event()
        self._cursor: int | None = None
        # The read every wake-up runs, as driver SQL (`Database.sqlite_read` says why).
        placeholders = ", ".join("?" for _ in self.topics)
        self._read_sql = (
            f"{_COLUMNS} WHERE id > ? AND topic IN ({placeholders}) ORDER BY id LIMIT ?"
        )
        self._at_end = False
        """The last read found fewer rows than it asked for: the log held no more then."""

    async def start(self) -> None:
        async with self.database.connect() as conn:
            position = await conn.scalar(
                select(embedded_offsets.c.position).where(embedded_offsets.c.group_id == self.group)
            )
        self._cursor = position or 0

    async def stop(self) -> None:
        self.wake.set()

    def seek(self, position: int) -> None:
        """Read from after `position` next (replay); nothing is committed by this."""
        self._cursor = position
        self._at_end = False

    async def lag(self) -> dict[tuple[str, int], int]:
        """Rows of each topic after this subscription's read position."""
        if self._cursor is None:
            return {}
        async with self.database.connect() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.topic, func.count())
                    .where(outbox.c.id > self._cursor, outbox.c.topic.in_(self.topics))
                    .group_by(outbox.c.topic)
                )
            ).all()
        counts = {r[0]: int(r[1]) for r in rows}
        return {(t, 0): counts.get(t, 0) for t in self.topics}

    async def fetch(self, max_records: int, timeout_s: float) -> list[Message]:
        # After a read that reached the end of the log, only a commit to one of our topics
        # (which sets `wake`) can have added to it: read again only then, or at the timeout
        # (a safety net), instead of reading for nothing after every batch.
        if self._at_end and not self.wake.is_set():
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=timeout_s)
            except TimeoutError:
                if self.tail is not None:
                    self.tail.changed()  # the safety net reads the table as before
        # Cleared before reading: a commit during the read sets it again.
        self.wake.clear()
        messages = await self._read(max_records)
        self._at_end = len(messages) < max_records
        return messages

    async def _read(self, max_records: int) -> list[Message]:
        if self._cursor is None:
            raise RuntimeError("subscription not started")
        held = self.tail.read(self._cursor, self.topic_set, max_records) if self.tail else None
        if held is not None:
            messages, self._cursor = held
            return messages
        rows = self.database.sqlite_read(self._read_sql, (self._cursor, *self.topics, max_records))
        if rows:
            self._cursor = rows[-1][0]
        return [_message(row) for row in rows]

    async def commit(self, handled: Sequence[Message]) -> None:
        if not handled:
            return
        async with self.database.write_lock(), self.database.connect() as conn, conn.begin():
            await self._store(conn, max(m.offset for m in handled))

    async def commit_in(self, tx: Tx, handled: Sequence[Message]) -> None:
        if not handled:
            return
        position = max(m.offset for m in handled)
        raw = driversql.raw_connection(tx)
        if raw is not None:
            driversql.move_position(raw, tx, self.group, position)
        else:
            await self._store(tx.conn, position)

    async def _store(self, conn: AsyncConnection, position: int) -> None:
        updated = await conn.execute(_MOVE, {"group": self.group, "position": position})
        if updated.rowcount == 0:
            await conn.execute(_START, {"group_id": self.group, "position": position})

    async def rewind(self, message: Message) -> None:
        # One cursor serves every topic of the log: a consumer rewinds once per (topic,
        # partition), and the earliest rewind must win, or an earlier event of another
        # topic would be skipped and committed past.
        position = message.offset - 1
        self._cursor = position if self._cursor is None else min(self._cursor, position)
        self._at_end = False
