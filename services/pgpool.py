"""How a pooled PostgreSQL connection is checked before it is used.

SQLAlchemy's `pool_pre_ping` pings on every checkout. With asyncpg that ping is three round
trips (BEGIN, an empty query, ROLLBACK) and, at 20 leads/s on the cluster, five pings per
lead across the services: more round trips than some of the services' own transactions.

A connection that PostgreSQL closed (a restart, a `pg_terminate_backend`, a crash) is
already known to be closed without asking: asyncpg marks it when the socket closes. So a
checkout asks the driver, which costs nothing, and pings only a connection that sat idle
for longer than `PING_IDLE_S`, the one whose socket might be half-open behind a firewall
or NAT that dropped it silently. A stale connection either way is replaced before use by
raising `DisconnectionError`, which the pool answers with a fresh connection
(SQLAlchemy's documented pessimistic disconnect handling).

What is left to chance: a server that dies in the instant between the check and the first
statement. That statement fails like any statement of a transaction the database dropped
(the consumer retries its batch, the HTTP request is answered 503), and SQLAlchemy then
invalidates every older connection of the pool.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

PING_IDLE_S = 10.0
"""A connection idle for longer than this is pinged before use."""

_CHECKED_IN_AT = "leadfarm_checked_in_at"


def check_before_use(engine: AsyncEngine) -> None:
    """Install the check on `engine`'s pool (instead of `pool_pre_ping`)."""
    pool = engine.sync_engine.pool
    event.listen(pool, "connect", _mark_used)
    event.listen(pool, "checkout", _check_out)
    event.listen(pool, "checkin", _mark_used)


def _check_out(
    dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
) -> None:
    if dbapi_connection._connection.is_closed():
        raise exc.DisconnectionError("the server closed the connection")
    checked_in_at = record.info.get(_CHECKED_IN_AT)
    if checked_in_at is None or time.monotonic() - checked_in_at > PING_IDLE_S:
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise exc.DisconnectionError(f"the connection failed a ping: {error}") from error


def _mark_used(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_CHECKED_IN_AT] = time.monotonic()
