"""Group commit at the HTTP edge: concurrent requests share one write transaction, and each
is answered only after that transaction commits (a 2xx still means stored).

`await committer.run(work, keys)` queues `work(state)`, the request's write. `keys` say
what the work will read and write, known before its round: a round starts with
`prepare(tx, [keys of each work])`, which reads (and locks) what all its works touch at
once and returns the round's `state` (at least the transaction) that every work is given.
A request that finds no round open starts one at once with whatever is queued; requests
arriving while a round runs its works are taken by the next round. Nothing ever sleeps to
fill a round (natural batching: under no load a round is one request and costs what its own
transaction would; under load rounds grow and the cost per request falls), and a round
takes at most `max_works`. Only a committer whose callers do not wait on anyone
(recording the outcome of a webhook already sent) may `linger`: its rounds start that long
after their first work, to take the works finishing meanwhile too.

With `in_flight=2` the next round opens as soon as the one before has run its works,
while that one writes and commits: a round spends most of its time waiting for the
database, and its successor's requests need not wait that out as well (ingest's webhooks:
about 10% more of them a second, docs/benchmarks.md "Stop 28"). On PostgreSQL two rounds
touching the same rows are ordered by the locks their `prepare` takes (ingest's advisory
locks) or by the rows' own locks; on SQLite the write lock keeps them one after the other.

A round runs its works in order in one transaction, optimistically. If one of them raises
(a Problem: a replayed signature, an idempotency key reused...), or the commit fails, the round is
rolled back and each of its works runs again in a transaction of its own, so one request's
refusal never makes another fail or lose its write. Hence a work may run twice: it must have
no effect outside `tx` (count metrics after `run` returns, not inside the work). A
transient database error (unreachable, restarting) is nobody's fault and is raised to every
request of the round, as a request's own transaction would.

Each work runs in a copy of its request's context (request id in the logs), as a task of
the round: a client that disconnects cancels its own wait, never the shared round; its
work, if the round already took it, still commits with the others.

Why roll back and split rather than a savepoint per work: a savepoint costs two statements
per work on every round (SAVEPOINT, RELEASE), while refusals inside the transaction are
rare, so the optimistic round is cheaper (docs/architecture.md, "Group commit", has the
measurement).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from services import metrics
from services.consumer import is_transient
from services.db import Tx, UnitOfWork, statement_owner

log = logging.getLogger(__name__)

T = TypeVar("T")
K = TypeVar("K")
"""What a work declares it touches (its keys)."""
S = TypeVar("S")
"""A round's state, made by `prepare` and given to each work of the round."""

Work = Callable[[S], Coroutine[Any, Any, T]]

DEFAULT_MAX_WORKS = 64
"""A bound on the works of one round: a round's transaction (and on SQLite the write lock)
is held for all of them."""


@dataclass
class _Queued(Generic[K, S, T]):
    work: Work[S, T]
    keys: K
    future: asyncio.Future[T]
    context: contextvars.Context


async def transaction_only(tx: Tx, _keys: Sequence[object]) -> Tx:
    """The `prepare` of works that need nothing read for them beforehand: their state is
    the transaction."""
    return tx


class GroupCommitter(Generic[K, S]):
    """Runs the writes of concurrent requests of one service in shared transactions.

    `prepare(tx, keys)` runs at the start of every transaction the committer opens, before
    any work, with the keys of the works it will run: the place to check reference data
    once per round (ingest's sources) and to read what the works touch with one statement
    per table instead of one per work.
    """

    def __init__(
        self,
        unit: UnitOfWork,
        prepare: Callable[[Tx, Sequence[K]], Awaitable[S]],
        *,
        max_works: int = DEFAULT_MAX_WORKS,
        linger_s: float = 0.0,
        in_flight: int = 1,
    ) -> None:
        self.unit = unit
        self.max_works = max_works
        self.linger_s = linger_s
        self.prepare = prepare
        self.in_flight = in_flight
        self._queue: deque[_Queued[K, S, Any]] = deque()
        self._rounds: set[asyncio.Task[None]] = set()
        self._open: asyncio.Task[None] | None = None
        """The round taking works and running them (at most one): works queued meanwhile
        wait for the next round."""

    async def run(self, work: Work[S, T], keys: K) -> T:
        """Run `work(state)` in the next round; returns its result once the round
        committed, or raises what the work raised (or the transient error that stopped the
        round)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(work, keys, future, contextvars.copy_context()))
        self._open_round()
        return await future

    def _open_round(self) -> None:
        """Open a round for what is queued, unless one is open (it, or the next, takes
        it) or `in_flight` rounds are running (the first to end opens one)."""
        if self._queue and self._open is None and len(self._rounds) < self.in_flight:
            self._open = asyncio.create_task(self._round(), name="group-commit")
            self._rounds.add(self._open)
            self._open.add_done_callback(self._round_ended)

    def _round_ended(self, task: asyncio.Task[None]) -> None:
        self._rounds.discard(task)
        if self._open is task:
            self._open = None
        if task.cancelled():  # shutdown: nobody waits forever
            while self._queue:
                self._queue.popleft().future.cancel()
            return
        self._open_round()

    def _writing(self) -> None:
        """The open round has run its works and goes on to write and commit them: the next
        may open meanwhile (up to `in_flight` at once)."""
        self._open = None
        self._open_round()

    def _take(self) -> list[_Queued[K, S, Any]]:
        taken: list[_Queued[K, S, Any]] = []
        while self._queue and len(taken) < self.max_works:
            queued = self._queue.popleft()
            if not queued.future.done():  # a request cancelled before its round: nothing ran
                taken.append(queued)
        return taken

    async def _round(self) -> None:
        taken: list[_Queued[K, S, Any]] = []
        results: list[Any] = []
        try:
            if self.linger_s > 0 and len(self._queue) < self.max_works:
                await asyncio.sleep(self.linger_s)
            async with self.unit.transaction() as tx:
                # Taken once the transaction is open (on SQLite, once the write lock is
                # held): whatever queued meanwhile joins this round.
                taken = self._take()
                if not taken:
                    return
                state = await self.prepare(tx, [queued.keys for queued in taken])
                for queued in taken:
                    results.append(await self._apply(queued, state))
                self._writing()
        except asyncio.CancelledError:
            for queued in taken:
                queued.future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to the requests of the round
            if not taken:
                taken = self._take()
            if is_transient(exc) or len(taken) == 1:
                outcome = "failed" if is_transient(exc) else "rolled_back"
                metrics.GROUP_COMMIT_ROUNDS.labels(self.unit.service, outcome).inc()
                for queued in taken:
                    _settle(queued.future, exc=exc)
                return
            metrics.GROUP_COMMIT_ROUNDS.labels(self.unit.service, "split").inc()
            log.info("round of %d rolled back (%r); each work alone", len(taken), exc)
            for queued in taken:
                await self._alone(queued)
            return
        metrics.GROUP_COMMIT_ROUNDS.labels(self.unit.service, "committed").inc()
        metrics.GROUP_COMMIT_WORKS.labels(self.unit.service).observe(len(taken))
        for queued, result in zip(taken, results, strict=True):
            _settle(queued.future, result=result)

    async def _alone(self, queued: _Queued[K, S, Any]) -> None:
        """One work in a transaction of its own (after its round was split)."""
        try:
            async with self.unit.transaction() as tx:
                state = await self.prepare(tx, [queued.keys])
                result = await self._apply(queued, state)
        except Exception as exc:  # noqa: BLE001 - handed to the request that owns the work
            _settle(queued.future, exc=exc)
            return
        _settle(queued.future, result=result)

    async def _apply(self, queued: _Queued[K, S, T], state: S) -> T:
        """Run the work as a task in its request's context (its statements still counted
        for this service)."""
        context = queued.context.copy()
        context.run(statement_owner.set, self.unit.service)
        return await asyncio.create_task(queued.work(state), context=context)


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None
) -> None:
    if future.done():  # the request went away; its write (if any) stands
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
