"""A bounded pool for workers that lease items and call someone else's server with each
(the router's webhook deliveries, ingest's provider fetches).

Work runs without rounds: an item starts as soon as a slot is free, never waiting for the
slowest item of a batch; at most `limit` run at once, and at most `per_key` for one key
(a subscription, a source), so one slow receiver holds only its own slots while every
other key's items keep flowing. An item that is done with the other server gives its slot
back (`let_go`) before it stores what happened.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections import Counter
from collections.abc import Coroutine
from typing import Any, cast

import httpx

from services.polling import PollingWorker

log = logging.getLogger(__name__)


class KeyedPool:
    def __init__(self, name: str, *, limit: int, per_key: int) -> None:
        self.name = name
        self.limit = limit
        self.per_key = per_key
        self._tasks: dict[asyncio.Task[None], str] = {}
        self._held: Counter[str] = Counter()
        """Slots held per key, running or reserved, kept as they change: a pool of a
        hundred slots is asked for a key's count once per item started."""
        self._reserved = 0
        self._storing: set[asyncio.Task[None]] = set()
        """Items that let go of their slot (`let_go`) and are storing what happened."""
        self._freed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._tasks) + len(self._storing)

    @property
    def free(self) -> int:
        return self.limit - len(self._tasks) - self._reserved

    def in_flight(self) -> Counter[str]:
        """Items running (or with a slot reserved) per key."""
        return +self._held

    def full(self) -> list[str]:
        """The keys with their share running: a claim skips their items."""
        return [key for key, n in self._held.items() if n >= self.per_key]

    def reserve(self, key: str) -> bool:
        """Hold a slot for an item of `key` about to be stored (started by
        `start_reserved` once it is, or given back by `release`), if the key may have one
        more now: below its share, or while more than a share of the pool stays free."""
        free = self.free
        if free <= 0 or (self._held[key] >= self.per_key and free <= self.per_key):
            return False
        self._reserved += 1
        self._held[key] += 1
        return True

    def release(self, key: str) -> None:
        self._reserved -= 1
        self._give_back(key)

    def start_reserved(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        self.release(key)
        self.start(key, work)

    def start(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"{self.name}:{key}")
        self._tasks[task] = key
        self._held[key] += 1
        task.add_done_callback(self._done)

    def let_go(self) -> None:
        """Called by a running item once it is done with the other server: its slot, and
        its key's share, go to the next item while it stores the outcome. A slot bounds
        the calls a server gets at once; held until the outcome was stored, it was also
        held through the event loop's and the database's queues, which on a busy process
        took most of a webhook delivery's 125 ms (docs/benchmarks.md, "Stop 27"). The item
        stays in flight (`drain`, `cancel_all`) until it ends."""
        task = cast("asyncio.Task[None] | None", asyncio.current_task())
        key = self._tasks.pop(task, None) if task is not None else None
        if task is None or key is None:  # not an item of this pool, or let go already
            return
        self._give_back(key)
        self._storing.add(task)
        self._freed.set()

    def _give_back(self, key: str) -> None:
        held = self._held[key] - 1
        if held > 0:
            self._held[key] = held
        else:
            del self._held[key]

    def _done(self, task: asyncio.Task[None]) -> None:
        key = self._tasks.pop(task, None)
        if key is not None:
            self._give_back(key)
        self._storing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The item's own code records its outcome; reaching here means recording it
            # failed (the database away): its lease runs out and it is tried again.
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def wait_any(self) -> None:
        """Until a slot frees (an item lets go of it or finishes) or an item storing its
        outcome finishes; with none in flight, until cancelled."""
        if self._freed.is_set():  # a slot was let go since the last wait: look again now
            self._freed.clear()
            return
        if not self._tasks and not self._storing:
            await asyncio.get_running_loop().create_future()
            return
        freed = asyncio.ensure_future(self._freed.wait())
        try:
            await asyncio.wait([*self._tasks, *self._storing, freed], return_when="FIRST_COMPLETED")
        finally:
            freed.cancel()
            self._freed.clear()

    async def pause(self, wake: asyncio.Event, interval: float, *, on_finish: bool = True) -> None:
        """A worker's wait when it found nothing to start: until `wake` is set, `interval`
        passes, or (`on_finish`) an item finishes (its slot, and its key's share, free up:
        what was held back starts now, not an interval later)."""
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(wake.wait())]
        if on_finish and (self._tasks or self._storing or self._freed.is_set()):
            waits.append(asyncio.ensure_future(self.wait_any()))
        try:
            await asyncio.wait(waits, timeout=interval, return_when="FIRST_COMPLETED")
        finally:
            for waiting in waits:
                waiting.cancel()

    def cancel_all(self) -> None:
        """Cancel every item in flight (their leases run out; they are tried again)."""
        for task in [*self._tasks, *self._storing]:
            task.cancel()

    async def drain(self) -> None:
        """Until every item in flight has finished (storing its outcome included)."""
        while self._tasks or self._storing:
            await asyncio.wait([*self._tasks, *self._storing])


class LeasingWorker(PollingWorker):
    """A worker that leases due items and runs each in a slot of its `KeyedPool`, calling
    someone else's server through its own HTTP client: the loop, the wake-up, stopping and
    the test's `run_once` are the same for every such worker (the router's webhooks,
    ingest's provider fetches); each says how it leases and starts items."""

    def __init__(self, pool: KeyedPool, poll_interval_s: float) -> None:
        super().__init__(poll_interval_s)
        self.pool = pool
        self._http: httpx.AsyncClient | None = None
        self.held_back = True
        """Whether items may be due that found no slot: then a finished item (a slot
        freed) is a reason to look again. A worker that knows nothing is due says so."""

    @abstractmethod
    async def _start_due(self) -> int:
        """Lease what is due, as many as the pool has free slots (each key its share), and
        start each in the pool; returns how many started."""

    async def round(self) -> bool:
        """Start each due item as soon as a slot is free (no rounds: a slow server never
        holds up the others)."""
        return await self._start_due() > 0

    async def idle(self, wait_s: float) -> None:
        # Woken by a commit (or by stop) or a finished item; the poll finds what other
        # replicas stored and retries coming due.
        await self.pool.pause(self._wake, wait_s, on_finish=self.held_back)

    async def finish(self) -> None:
        """Let those in flight finish (each within its deadline; the runtime's shutdown
        timeout cancels them past it)."""
        await self.pool.drain()

    async def close(self) -> None:
        self.pool.cancel_all()  # cancelled meanwhile: their leases run out
        await self._close_http()

    async def stop(self) -> None:
        """Stop starting items (`run` then finishes those in flight)."""
        await super().stop()
        if not self._looping:
            await self.pool.drain()
            await self._close_http()

    async def _close_http(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def run_once(self) -> int:
        """Attempt every due item once and wait for them; returns how many (tests)."""
        attempted = 0
        while True:
            started = await self._start_due()
            attempted += started
            if started == 0:
                if not self.pool:
                    return attempted
                await self.pool.wait_any()
