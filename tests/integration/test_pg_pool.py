"""A pooled PostgreSQL connection is checked before use without a round trip when it was
used a moment ago, and replaced, not handed out, when the server closed it
(services/pgpool.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy import text

from services import pgpool
from services.db import Database
from tests import infra

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(pg_database: infra.ScratchDatabase) -> AsyncIterator[Database]:
    db = Database(pg_database.url, service="router", pool_size=1)
    yield db
    await db.dispose()


async def _backend_pid(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _round_trips(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pings the pool's checkout sends for one `SELECT 1`."""
    pings: list[str] = []
    async with db.engine.connect() as conn:
        adapted = (await conn.get_raw_connection()).dbapi_connection
        assert adapted is not None
        ping = cast(Any, type(adapted)).ping

        def counted(self: object) -> None:
            pings.append("ping")
            ping(self)

        monkeypatch.setattr(type(adapted), "ping", counted)
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return pings


async def test_a_connection_used_a_moment_ago_is_not_pinged(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await _round_trips(database, monkeypatch) == []


async def test_a_connection_idle_for_long_is_pinged(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgpool, "PING_IDLE_S", 0.0)
    assert await _round_trips(database, monkeypatch) == ["ping"]


async def test_a_connection_the_server_closed_is_replaced_before_use(
    database: Database, pg_database: infra.ScratchDatabase
) -> None:
    first = await _backend_pid(database)
    admin = await asyncpg.connect(pg_database.url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # the pooled connection's socket sees the server close it
    assert await _backend_pid(database) != first
