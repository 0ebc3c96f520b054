"""The embedded bus: the SQLite outbox table is the event log.

Every committed outbox row is a published event; its id is its offset. Each consumer group
keeps its position in `embedded_offsets`. A commit wakes the waiting consumers of the topics
it wrote to, in-process, so an event reaches its consumers within milliseconds with no
polling delay, and a consumer of other topics does not read for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

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


class EmbeddedBus:
    def __init__(self, database: Database) -> None:
        if not database.is_sqlite:
            raise ValueError("the embedded bus runs on the embedded SQLite database")
        self.database = database
        self._subscriptions: list[EmbeddedSubscription] = []
        database.on_events_committed(self.notify)

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
        for sub in self._subscriptions:
            if not sub.topic_set.isdisjoint(topics):
                sub.wake.set()

    def subscribe(self, group: str, topics: Sequence[str]) -> Subscription:
        sub = EmbeddedSubscription(self.database, group, topics)
        self._subscriptions.append(sub)
        return sub


class EmbeddedSubscription:
    def __init__(self, database: Database, group: str, topics: Sequence[str]) -> None:
        self.database = database
        self.group = group
        self.topics = list(topics)
        self.topic_set = frozenset(self.topics)
        self.wake = asyncio.Event()
        self._cursor: int | None = None
        # The read every wake-up runs, as driver SQL (`Database.sqlite_read` says why).
        placeholders = ", ".join("?" for _ in self.topics)
        self._read_sql = (
            "SELECT id, topic, key, payload, headers FROM outbox WHERE id > ?"  # noqa: S608
            f" AND topic IN ({placeholders}) ORDER BY id LIMIT ?"  # (placeholders only)
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=timeout_s)
        # Cleared before reading: a commit during the read sets it again.
        self.wake.clear()
        messages = await self._read(max_records)
        self._at_end = len(messages) < max_records
        return messages

    async def _read(self, max_records: int) -> list[Message]:
        if self._cursor is None:
            raise RuntimeError("subscription not started")
        rows = self.database.sqlite_read(self._read_sql, (self._cursor, *self.topics, max_records))
        if rows:
            self._cursor = rows[-1][0]
        return [
            Message(
                topic=topic,
                partition=0,
                offset=offset,
                key=key,
                value=payload.encode(),
                headers=orjson.loads(headers) if headers else {},
            )
            for offset, topic, key, payload, headers in rows
        ]

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
