"""What the chassis deletes once it has kept it long enough (the inbox's old rows, the
embedded log's old records) goes a chunk a transaction, a short turn at a time: each chunk
holds the write lock (SQLite) or its rows (PostgreSQL) only briefly, so the events behind
it wait a few milliseconds at most, and a long backlog (the first start after an upgrade)
is worked off over many turns."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

CHUNK = 1_000
"""Rows deleted a transaction."""
TURN_S = 0.1
"""How long one turn may go on; the caller comes back for the rest."""


async def prune_turn(
    delete_chunk: Callable[[int], Awaitable[int]], stopping: Callable[[], bool]
) -> tuple[int, bool]:
    """Run `delete_chunk(CHUNK)` (one transaction deleting at most that many rows, returning
    how many it deleted) until a chunk deletes fewer, TURN_S has passed or `stopping()`;
    returns how many rows went and whether some may be left."""
    started = time.monotonic()
    deleted = 0
    while not stopping():
        gone = await delete_chunk(CHUNK)
        deleted += gone
        if gone < CHUNK:
            return deleted, False
        if time.monotonic() - started >= TURN_S:
            break
    return deleted, True
