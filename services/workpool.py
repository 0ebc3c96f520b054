"""A bounded pool for workers that lease items and call someone else's server with each
(the router's webhook deliveries, ingest's provider fetches).

Work runs without rounds: an item starts as soon as a slot is free, never waiting for the
slowest item of a batch; at most `limit` run at once, and at most `per_key` for one key
(a subscription, a source), so one slow receiver holds only its own slots while every
other key's items keep flowing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class KeyedPool:
    def __init__(self, name: str, *, limit: int, per_key: int) -> None:
        self.name = name
        self.limit = limit
        self.per_key = per_key
        self._tasks: dict[asyncio.Task[None], str] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def free(self) -> int:
        return self.limit - len(self._tasks)

    def in_flight(self) -> Counter[str]:
        """Items running per key."""
        return Counter(self._tasks.values())

    def start(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"{self.name}:{key}")
        self._tasks[task] = key
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            # The item's own code records its outcome; reaching here means recording it
            # failed (the database away): its lease runs out and it is tried again.
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def wait_any(self) -> None:
        """Until one item finishes (a slot frees); with none in flight, until cancelled."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), return_when="FIRST_COMPLETED")
        else:
            await asyncio.get_running_loop().create_future()

    async def pause(self, wake: asyncio.Event, interval: float) -> None:
        """A worker's wait when it found nothing to start: until `wake` is set, `interval`
        passes, or an item finishes (its slot, and its key's share, free up: what was held
        back starts now, not an interval later)."""
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(wake.wait())]
        if self._tasks:
            waits.append(asyncio.ensure_future(self.wait_any()))
        try:
            await asyncio.wait(waits, timeout=interval, return_when="FIRST_COMPLETED")
        finally:
            for waiting in waits:
                waiting.cancel()

    def cancel_all(self) -> None:
        """Cancel every item in flight (their leases run out; they are tried again)."""
        for task in self._tasks:
            task.cancel()

    async def drain(self) -> None:
        """Until every item in flight has finished."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))
