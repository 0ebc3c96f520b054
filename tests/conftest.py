"""Shared fixtures. Integration tests use the real broker and database from tests/infra.py."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from cryptography.fernet import Fernet
from starlette.types import ASGIApp

from services.clock import ManualClock
from tests import infra
from tests.backends import Backend, ClusterBackend, EmbeddedBackend

# The tests' webhook receivers (a rep's tool) listen on 127.0.0.1, which the router refuses
# by default (SSRF); tests/unit/router/test_webhooks.py checks the refusal with it off.
os.environ.setdefault("LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS", "true")
# Likewise the local servers that play providers' APIs (tests/unit/security/test_egress.py).
os.environ.setdefault("LEADFARM_INGEST_ALLOW_PRIVATE_API_URLS", "true")
# One key seals stored secrets for the whole session (processes the tests start inherit
# it); tests/unit/security/test_secrets_at_rest.py covers the key file used without it.
os.environ.setdefault("LEADFARM_SECRETS_KEY", Fernet.generate_key().decode())


def pytest_report_header(config: pytest.Config) -> str:
    return "integration targets: " + infra.server_versions() + f" (CI={infra.IN_CI})"


_integration_outcomes: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}
_integration_ids: set[str] = set()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _integration_ids.update(i.nodeid for i in items if i.get_closest_marker("integration"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _integration_ids:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _integration_outcomes[report.outcome] = _integration_outcomes.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    o = _integration_outcomes
    terminalreporter.write_line(
        f"integration tests against real Kafka and PostgreSQL ({infra.server_versions()}): "
        f"{o['passed']} passed, {o['failed']} failed, {o['skipped']} skipped"
    )


@pytest.fixture(scope="session")
def pg_template() -> Iterator[infra.ScratchDatabase]:
    """A database built by the migrations once per session, the template of each test's."""
    infra.require_postgres()
    db = infra.create_database()
    infra.migrate_database(db)
    yield db
    infra.drop_database(db)


@pytest.fixture
def pg_database(pg_template: infra.ScratchDatabase) -> Iterator[infra.ScratchDatabase]:
    """A PostgreSQL database of this test's own, already migrated."""
    db = infra.create_database(template=pg_template.name)
    yield db
    infra.drop_database(db)


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    yield infra.require_kafka()
    infra.delete_test_topics()


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[EmbeddedBackend]:
    """All five services on the embedded runtime, in this process."""
    backend = await EmbeddedBackend(tmp_path).start()
    yield backend
    await backend.stop()


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The same Leadfarm on each runtime: embedded, and real Kafka + PostgreSQL."""
    runtime: Backend
    if request.param == "embedded":
        runtime = await EmbeddedBackend(tmp_path).start()
    else:
        database = request.getfixturevalue("pg_database")
        kafka = request.getfixturevalue("kafka")
        runtime = await ClusterBackend(database.url, kafka).start()
    yield runtime
    await runtime.stop()


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
async def routed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Backend, ManualClock]]:
    """A Leadfarm on each runtime whose clock the test moves, and whose timers fire only when
    the test fires them (deadlines, reminders, syncs without sleeping)."""
    clock = ManualClock()
    runtime: Backend
    if request.param == "embedded":
        runtime = await EmbeddedBackend(tmp_path, clock=clock, timer_poll_interval_s=3600).start()
    else:
        runtime = await ClusterBackend(
            request.getfixturevalue("pg_database").url,
            request.getfixturevalue("kafka"),
            clock=clock,
            timer_poll_interval_s=3600,
        ).start()
    yield runtime, clock
    await runtime.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve_api() -> Iterator[Callable[[ASGIApp], str]]:
    """Serve an ASGI app (the fake provider API) on a real local port; returns its base URL.

    Usage: `base = serve_api(app)`; the server stops after the test.
    """
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: ASGIApp) -> str:
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake provider API did not start")
            time.sleep(0.01)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=5)
