"""Graceful shutdown of the HTTP process (`leadfarm up`, `leadfarm serve`).

On SIGTERM (or Ctrl-C):
1. `/readyz` answers 503 at once, and for `LEADFARM_SHUTDOWN_DRAIN_S` (default 0) the
   process keeps serving, so a load balancer polling readiness stops sending traffic
   before the listener closes (set it a little above the readiness probe period in
   Kubernetes);
2. uvicorn stops accepting connections and finishes open requests;
3. the runtime stops: consumers stop after the message in hand and commit, timers and
   workers stop, the outbox relay flushes (services/runtime.py), all within
   `LEADFARM_SHUTDOWN_TIMEOUT_S` (default 20 s); past it the work still running is
   cancelled (its messages are delivered again on the next start) and the exit status is 1;
4. the process exits 0 (uvicorn would re-raise the signal; a clean shutdown is not a crash).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from services.runtime import Runtime

log = logging.getLogger(__name__)


class ShutdownSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFARM_", extra="ignore")

    shutdown_drain_s: float = 0.0
    """Seconds between turning unready and closing the listener on SIGTERM."""


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime, drain_s: float) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.drain_s = drain_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.runtime.ready = False
        if self._draining or self.drain_s <= 0 or self._loop is None or self.should_exit:
            self._exit(sig)
            return
        self._draining = True
        log.info(
            "%s: unready; draining for %ss before closing", signal.Signals(sig).name, self.drain_s
        )
        self._loop.call_soon_threadsafe(self._loop.call_later, self.drain_s, self._exit, sig)

    def _exit(self, sig: int) -> None:
        super().handle_exit(sig, None)
        # A graceful shutdown is a normal exit: do not re-raise the signal afterwards.
        self._captured_signals.clear()


def serve_http(runtime: Runtime, config: uvicorn.Config, listener: socket.socket) -> int:
    """Serve on `listener` (bound before, so a taken port stops the process before the
    runtime starts) until a signal; 0 after a clean shutdown, 1 when it was cut short."""
    server = GracefulServer(config, runtime, ShutdownSettings().shutdown_drain_s)
    server.run(sockets=[listener])
    if not runtime.stopped_cleanly:
        log.error("Leadfarm stopped, but not cleanly within LEADFARM_SHUTDOWN_TIMEOUT_S")
        return 1
    return 0
