"""Where the real Kafka broker and PostgreSQL for integration tests are, and whether they
answer. Under CI=true a missing one fails the test instead of skipping it."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import pytest

KAFKA = os.environ.get("LEADFARM_TEST_KAFKA", "127.0.0.1:9092")
POSTGRES = os.environ.get(
    "LEADFARM_TEST_POSTGRES", "postgresql://leadfarm:leadfarm@127.0.0.1:5432/leadfarm"
)
T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() == "true"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop
    (session fixtures are set up from async tests)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def answers(host_port: str, timeout: float = 1.0) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def postgres_host_port() -> str:
    url = urlparse(POSTGRES)
    return f"{url.hostname}:{url.port or 5432}"


def unavailable(what: str) -> None:
    message = (
        f"{what} is not reachable. Run the README's test command (`make test`), which "
        "provisions it, or point LEADFARM_TEST_KAFKA / LEADFARM_TEST_POSTGRES at one."
    )
    if IN_CI:
        pytest.fail(f"CI=true: integration tests must not skip. {message}")
    pytest.skip(message)


def require_kafka() -> str:
    if not answers(KAFKA):
        unavailable(f"Kafka at {KAFKA}")
    return KAFKA


_namespaces: set[str] = set()


def topic_namespace(kind: str = "t") -> str:
    """A fresh topic namespace for one test, remembered so the session can delete its topics."""
    namespace = f"{kind}{uuid.uuid4().hex[:10]}"
    _namespaces.add(namespace)
    return namespace


def delete_test_topics() -> int:
    """Delete every topic this session created; returns how many.

    Without this the local broker keeps thousands of partitions from earlier runs, and a
    cold start has to load each of them (85 s for 8,800) before it answers.
    """
    if not _namespaces or not answers(KAFKA):
        return 0
    from aiokafka.admin import AIOKafkaAdminClient

    async def run() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
        await admin.start()
        try:
            topics = [t for t in await admin.list_topics() if t.split(".", 1)[0] in _namespaces]
            for start in range(0, len(topics), 200):
                await admin.delete_topics(topics[start : start + 200])
            return len(topics)
        finally:
            await admin.close()

    deleted = run_async(run())
    _namespaces.clear()
    return deleted


def require_postgres() -> str:
    if not answers(postgres_host_port()):
        unavailable(f"PostgreSQL at {postgres_host_port()}")
    return POSTGRES


@dataclass
class ScratchDatabase:
    name: str
    url: str  # SQLAlchemy asyncpg URL


def create_database(template: str | None = None) -> ScratchDatabase:
    """A fresh database (a copy of `template` when given), dropped by `drop_database`."""
    import asyncpg

    name = f"leadfarm_test_{uuid.uuid4().hex[:10]}"
    clause = f' TEMPLATE "{template}"' if template else ""

    async def run() -> None:
        conn = await asyncpg.connect(POSTGRES)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"{clause}')
        finally:
            await conn.close()

    run_async(run())
    base = urlparse(POSTGRES)
    url = base._replace(scheme="postgresql+asyncpg", path=f"/{name}").geturl()
    return ScratchDatabase(name=name, url=url)


def migrate_database(db: ScratchDatabase) -> None:
    """Build every service's schema in `db` with the migrations."""
    from contracts.topics import SERVICES
    from services.db import Database
    from services.migrate import upgrade
    from services.runtime import builder_of

    async def run() -> None:
        for service in SERVICES:
            module = __import__(builder_of(service).__module__, fromlist=["__file__"])
            migrations = Path(module.__file__ or "").parent / "migrations"
            database = Database(db.url, service=service)
            try:
                await upgrade(database, {service: migrations})
            finally:
                await database.dispose()

    run_async(run())


def drop_database(db: ScratchDatabase) -> None:
    from bench.systems import drop_database as drop

    run_async(drop(POSTGRES, db.name))


def server_versions() -> str:
    """For the report header: what the integration tests actually talk to."""
    parts = []
    if answers(KAFKA):
        parts.append(f"Kafka broker at {KAFKA}")
    else:
        parts.append(f"Kafka at {KAFKA}: not reachable")
    if answers(postgres_host_port()):
        import asyncpg

        async def version() -> str:
            conn = await asyncpg.connect(POSTGRES)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        try:
            parts.append(f"PostgreSQL {run_async(version())} at {postgres_host_port()}")
        except Exception as exc:  # noqa: BLE001 - header only
            parts.append(f"PostgreSQL at {postgres_host_port()}: {exc}")
    else:
        parts.append(f"PostgreSQL at {postgres_host_port()}: not reachable")
    return "; ".join(parts)
