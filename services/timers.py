"""Durable timers: deadlines stored in the owning service's database and fired by a runner.

A timer is (service, kind, key) -> due_at plus a JSON payload; scheduling the same kind and
key again replaces the pending one. The runner claims due timers one at a time with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never fire one twice, and runs the
handler in the same transaction that marks it fired.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, select, update

from services import metrics
from services.db import ReadConn, Tx, UnitOfWork
from services.polling import PollingWorker
from services.tables import timers

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""A timer whose handler fails this many times is given up: it stays in the table, fired
and with its last error (a timer that fired successfully has none), counted in
`leadfarm_timers_given_up_total` and listed by `leadfarm timers list` (`given_up`), where
`leadfarm timers retry` arms it again."""


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]


TimerHandler = Callable[[Tx, Timer], Awaitable[None]]


async def schedule(
    tx: Tx, kind: str, key: str, due_at: datetime, payload: dict[str, Any] | None = None
) -> None:
    await cancel(tx, kind, key)
    await tx.conn.execute(
        _INSERT,
        {
            "service": tx.service,
            "kind": kind,
            "key": key,
            "due_at": due_at,
            "payload": orjson.dumps(payload or {}).decode(),
            "attempts": 0,
            "created_at": tx.now(),
        },
    )


async def replace_many(
    tx: Tx,
    cancels: Sequence[tuple[str, str]],
    schedules: Sequence[tuple[str, str, datetime, dict[str, Any]]],
) -> None:
    """Cancel the pending timers of `cancels` (kind, key) now, then schedule `schedules`
    (kind, key, due, payload) at the transaction's next flush (`Tx.defer`): one statement
    each for a whole batch of decisions. Schedule a key in `cancels` too to replace its
    pending timer, as `schedule` does."""
    if cancels:
        if tx.deferred(_INSERT):
            await tx.flush()  # a timer scheduled earlier in the transaction can be cancelled
        await tx.write(
            _CANCEL, [{"service": tx.service, "kind": k, "key": key} for k, key in cancels]
        )
    now = tx.now()
    for kind, key, due_at, payload in schedules:
        tx.defer(
            _INSERT,
            {
                "service": tx.service,
                "kind": kind,
                "key": key,
                "due_at": due_at,
                "payload": orjson.dumps(payload).decode(),
                "attempts": 0,
                "created_at": now,
            },
        )


async def cancel(tx: Tx, kind: str, key: str) -> None:
    await tx.conn.execute(_CANCEL, {"service": tx.service, "kind": kind, "key": key})


# Built once: scheduling is on every assignment's path.
_INSERT = timers.insert()
_CANCEL = delete(timers).where(
    timers.c.service == bindparam("service"),
    timers.c.kind == bindparam("kind"),
    timers.c.key == bindparam("key"),
    timers.c.fired_at.is_(None),
)


async def pending(tx: Tx, kind: str, key: str) -> Timer | None:
    row = (
        await tx.conn.execute(
            select(timers).where(
                timers.c.service == tx.service,
                timers.c.kind == kind,
                timers.c.key == key,
                timers.c.fired_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    return Timer(row.id, row.kind, row.key, row.due_at, orjson.loads(row.payload))


@dataclass(frozen=True)
class GivenUp:
    id: int
    kind: str
    key: str
    due_at: datetime
    attempts: int
    last_error: str | None
    given_up_at: datetime


async def given_up(conn: ReadConn, service: str, limit: int = 1000) -> list[GivenUp]:
    """A service's timers given up after their last attempt, newest first."""
    rows = await conn.execute(
        select(timers)
        .where(
            timers.c.service == service,
            timers.c.fired_at.is_not(None),
            timers.c.last_error.is_not(None),
        )
        .order_by(timers.c.fired_at.desc(), timers.c.id.desc())
        .limit(limit)
    )
    return [
        GivenUp(r.id, r.kind, r.key, r.due_at, r.attempts, r.last_error, r.fired_at) for r in rows
    ]


async def retry_given_up(tx: Tx, timer_id: int) -> bool:
    """Arm a given-up timer again, due now, with a fresh count of attempts. False when there
    is no such given-up timer (or the same kind and key has been scheduled since)."""
    row = (
        await tx.conn.execute(
            select(timers.c.kind, timers.c.key).where(
                timers.c.id == timer_id,
                timers.c.service == tx.service,
                timers.c.fired_at.is_not(None),
                timers.c.last_error.is_not(None),
            )
        )
    ).first()
    if row is None or await pending(tx, row.kind, row.key) is not None:
        return False
    await tx.conn.execute(
        update(timers)
        .where(timers.c.id == timer_id)
        .values(fired_at=None, attempts=0, last_error=None, due_at=tx.now())
    )
    return True


class TimerRunner(PollingWorker):
    """Fires a service's due timers, each in a transaction of its own, every poll."""

    name = "timer"

    def __init__(
        self,
        unit: UnitOfWork,
        handlers: dict[str, TimerHandler],
        *,
        poll_interval_s: float,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        super().__init__(poll_interval_s)
        self.unit = unit
        self.handlers = handlers
        self.max_attempts = max_attempts

    async def round(self) -> bool:
        limit = 1000
        return await self.fire_due(limit) >= limit

    async def fire_due(self, limit: int = 1000) -> int:
        """Fire every timer due by the clock's now; returns how many fired."""
        fired = 0
        while fired < limit and await self._fire_one():
            fired += 1
        return fired

    async def _fire_one(self) -> bool:
        async with self.unit.transaction() as tx:
            now = tx.now()
            query = (
                select(timers)
                .where(
                    timers.c.service == tx.service,
                    timers.c.fired_at.is_(None),
                    timers.c.due_at <= now,
                    timers.c.kind.in_(list(self.handlers)),
                )
                .order_by(timers.c.due_at, timers.c.id)
                .limit(1)
            )
            if not self.unit.database.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            row = (await tx.conn.execute(query)).first()
            if row is None:
                return False
            timer = Timer(row.id, row.kind, row.key, row.due_at, orjson.loads(row.payload))
            # Marked fired first, so a handler that schedules the same kind and key again
            # (a repeating touch) replaces nothing but itself.
            fired = update(timers).where(timers.c.id == timer.id)
            await tx.conn.execute(fired.values(fired_at=now))
            try:
                async with tx.savepoint():
                    await self.handlers[timer.kind](tx, timer)
            except Exception as exc:  # noqa: BLE001 - recorded on the timer, retried with backoff
                attempts = row.attempts + 1
                log.warning(
                    "timer %s/%s failed (attempt %d): %s", timer.kind, timer.key, attempts, exc
                )
                values: dict[str, Any] = {"attempts": attempts, "last_error": str(exc)[:2000]}
                if attempts < self.max_attempts:
                    values |= {"fired_at": None, "due_at": now + timedelta(seconds=2**attempts)}
                else:
                    metrics.TIMERS_GIVEN_UP.labels(tx.service, timer.kind).inc()
                    log.error(
                        "timer %s/%s (id %d) given up after %d attempts; see `leadfarm timers "
                        "list`: %s",
                        timer.kind,
                        timer.key,
                        timer.id,
                        attempts,
                        exc,
                    )
                await tx.conn.execute(fired.values(**values))
                return True
            if row.last_error is not None:
                # Fired after all: only a given-up timer keeps its last error.
                await tx.conn.execute(fired.values(last_error=None))
            metrics.TIMERS_FIRED.labels(tx.service, timer.kind).inc()
            return True
