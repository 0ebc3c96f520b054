"""The loop every background worker runs: a round, then, when the round left nothing behind
it, a wait until it is woken (a commit stored work for it) or its poll interval passes (work
another replica stored, retries coming due). A failed round is logged and retried after
the wait; the wait may grow after failures, up to a bound. Stopping wakes it.

The outbox relay, the durable timers' runner, nurture's send worker and the leasing workers
(the router's webhooks and connector deliveries, the account sync, ingest's provider
fetches) are each a `PollingWorker`: what differs is their round, what they do while idle
(a leasing worker also wakes when one of its items finishes) and what they do on the way
out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class PollingWorker(ABC):
    name: str = "worker"
    """For the log line of a failed round."""

    def __init__(self, poll_interval_s: float, *, max_backoff_s: float | None = None) -> None:
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        """After failed rounds the wait doubles up to this (None: it stays the interval)."""
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._looping = False

    @abstractmethod
    async def round(self) -> bool:
        """Do what is due; True when more may be waiting (go again at once)."""

    def wake(self) -> None:
        """Work was stored for this worker: look at once, not at the next poll."""
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        self._looping = True
        wait = self.poll_interval_s
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # before the round: a wake during it means look again
                try:
                    more = await self.round()
                    wait = self.poll_interval_s
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the work stays due; retried below
                    log.warning("%s round failed, will retry: %r", self.name, exc)
                    self.round_failed(exc)
                    more = False
                    if self.max_backoff_s is not None:
                        wait = min(wait * 2, self.max_backoff_s)
                if not more and not self._stopping.is_set():
                    await self.idle(wait)
            await self.finish()
        finally:
            self._looping = False
            await self.close()

    async def idle(self, wait_s: float) -> None:
        """Wait until woken, or `wait_s` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=wait_s)

    def round_failed(self, exc: Exception) -> None:  # noqa: B027 - most workers count nothing
        """Count a failed round (a metric), besides the log line."""

    async def finish(self) -> None:  # noqa: B027 - most workers have nothing to finish
        """What `run` does once stopped, after the last round (not when cancelled)."""

    async def close(self) -> None:  # noqa: B027 - most workers hold nothing
        """What `run` does on its way out, whatever the way (cancelled too)."""

    async def stop(self) -> None:
        """Stop after the round in progress."""
        self._stopping.set()
        self._wake.set()
