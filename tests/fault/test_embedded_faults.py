"""The fault suite on the embedded runtime: `leadfarm up` (all five services in one process
on one SQLite file) keeps every lead through kill -9, and a transient database error on a
consumer that reads several topics skips no event.

It needs neither Kafka nor PostgreSQL, and none of the cluster suite's own servers: run it
alone with `pytest -m fault -k embedded`. The same invariants as the cluster suite are
checked (`check_stored`), on the SQLite file.

Knobs (environment): LEADFARM_FAULT_EMBEDDED_LEADS (400), LEADFARM_FAULT_EMBEDDED_RATE
(leads/s, 15).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from services.consumer import ConsumerRunner, Handler, Incoming
from services.db import Tx
from tests.backends import ADMIN, ADMIN_KEY, EmbeddedBackend
from tests.e2e.processes import Process, free_port, wait_for
from tests.fault.test_faults import ASSIGNED, ENROLLED, Driver, Posted, check_stored

pytestmark = [pytest.mark.fault, pytest.mark.timeout(600)]

LEADS = int(os.environ.get("LEADFARM_FAULT_EMBEDDED_LEADS", "400"))
RATE = float(os.environ.get("LEADFARM_FAULT_EMBEDDED_RATE", "15"))
KILLS = 2
DRAIN_TIMEOUT = 180.0
REPS = ("ana", "bo", "cy")


class SqliteFile:
    """Read-only SQL on the embedded database while (or after) `leadfarm up` writes it."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "leadfarm.db"

    def query(self, sql: str) -> list[dict[str, Any]]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()

    def completed(self) -> set[str]:
        """Leads whose terminal event audit has archived."""
        rows = self.query(
            f"SELECT DISTINCT lead_id FROM audit_events WHERE type IN ('{ASSIGNED}', '{ENROLLED}')"
        )
        return {r["lead_id"] for r in rows}

    def check(self, driver: Driver, accepted: dict[str, Posted]) -> None:
        check_stored(self.query, lambda _service, table: table, driver, accepted)


def wait_drained(database: SqliteFile, accepted: dict[str, Posted]) -> None:
    try:
        wait_for(
            lambda: accepted.keys() <= database.completed(), timeout=DRAIN_TIMEOUT, interval=1.0
        )
    except AssertionError:
        missing = accepted.keys() - database.completed()
        raise AssertionError(f"{len(missing)} accepted leads never completed") from None


# --- kill -9 of `leadfarm up` while leads flow ----------------------------------------------


class Up:
    """`leadfarm up` on one data directory and port, killed and started again."""

    def __init__(self, data_dir: Path, logs: Path) -> None:
        self.data_dir = data_dir
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "LEADFARM_ADMIN_KEY": ADMIN_KEY,
            "LEADFARM_LOG_LEVEL": "WARNING",
            # No SLA may fire during the run (a re-assignment would be legitimate).
            "LEADFARM_ROUTER_FIRST_TOUCH_MINUTES": "100000",
        }
        self.starts = 0
        self.process = self.start()

    def start(self) -> Process:
        self.starts += 1
        args = ["up", "--data-dir", str(self.data_dir), "--port", str(self.port)]
        process = Process(args, self.env, self.logs / f"up.{self.starts}.log")
        process.wait_ready(self.url, timeout=120)
        return process

    def kill9_and_restart(self) -> float:
        """SIGKILL, then a new process at once on the same data directory (the kernel has
        released the dead one's lock); returns the time until it is ready."""
        self.process.proc.send_signal(signal.SIGKILL)
        self.process.proc.wait()
        self.process.terminate()  # already dead: only closes its log
        started = time.monotonic()
        self.process = self.start()
        return time.monotonic() - started

    def stop(self) -> None:
        self.process.terminate()


def test_embedded_every_lead_survives_kill_9_of_leadfarm_up(tmp_path: Path) -> None:
    up = Up(tmp_path / "data", tmp_path)
    try:
        with httpx.Client(base_url=up.url, headers=ADMIN, timeout=10) as http:
            for rep in REPS:
                r = http.post(
                    "/router/v1/reps",
                    json={"id": rep, "name": rep.title(), "email": f"{rep}@example.com"},
                )
                assert r.status_code == 201, r.text

        driver = Driver(up.url, LEADS, RATE)
        thread = threading.Thread(target=driver.run, daemon=True)
        thread.start()
        flow_s = LEADS / RATE
        restarts = []
        for _ in range(KILLS):
            time.sleep(flow_s / (KILLS + 1))
            assert not driver.done.is_set(), "the stream ended before the faults"
            restarts.append(up.kill9_and_restart())
        driver.stop.set()
        thread.join(timeout=flow_s + 300)
        if driver.error is not None:
            raise driver.error
        assert len(driver.posted) >= LEADS
        assert up.starts == KILLS + 1

        accepted = {p.lead_id: p for p in driver.posted}
        database = SqliteFile(up.data_dir)
        wait_drained(database, accepted)
        database.check(driver, accepted)
        print(
            f"embedded kill -9: {len(accepted)} leads, restarts took "
            f"{', '.join(f'{s:.1f} s' for s in restarts)}, refused posts {dict(driver.refused)}"
        )
    finally:
        up.stop()


# --- a transient database error on consumers that read several topics -----------------------


def fails_once(event_id: str, group: str) -> bool:
    """About one event in three fails once per consumer, the same ones on every run."""
    return zlib.crc32(f"{group}/{event_id}".encode()) % 3 == 0


async def test_embedded_a_transient_database_error_skips_no_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every consumer of the embedded runtime reads several topics through one cursor over
    the one log (qualifier, router, nurture, audit). A `database is locked` on the first
    try of about a third of the events rewinds each consumer again and again, while leads
    keep coming; afterwards every lead has its whole story, once, and nothing was
    dead-lettered (a transient error is never the message's fault)."""
    monkeypatch.setenv("LEADFARM_ROUTER_FIRST_TOUCH_MINUTES", "100000")
    injected: Counter[str] = Counter()
    tried: set[tuple[str, str]] = set()
    original = ConsumerRunner._handler_for
    original_apply = ConsumerRunner._apply

    def maybe_fail(runner: ConsumerRunner, incoming: Incoming[Any]) -> None:
        attempt = (runner.group, incoming.envelope.id)
        if attempt not in tried and fails_once(incoming.envelope.id, runner.group):
            tried.add(attempt)
            injected[runner.group.rpartition(".")[2]] += 1
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

    def handler_for(self: ConsumerRunner, message: Any, data: Any) -> Handler | None:
        """Events handled one at a time (after a batch fell back)."""
        handler = original(self, message, data)
        if handler is None:
            return None
        chosen: Handler = handler

        async def flaky(tx: Tx, incoming: Incoming[Any]) -> None:
            maybe_fail(self, incoming)
            await chosen(tx, incoming)

        return flaky

    async def apply(self: ConsumerRunner, tx: Tx, events: list[Incoming[Any]]) -> None:
        """A fetched batch handled in one transaction (the usual path)."""
        for incoming in events:
            maybe_fail(self, incoming)
        await original_apply(self, tx, events)

    monkeypatch.setattr(ConsumerRunner, "_handler_for", handler_for)
    monkeypatch.setattr(ConsumerRunner, "_apply", apply)
    backend = await EmbeddedBackend(tmp_path, consumer_batch_size=20).start()
    try:
        router = backend.client("router")
        for rep in REPS:
            r = await router.post(
                "/router/v1/reps",
                json={"id": rep, "name": rep.title(), "email": f"{rep}@example.com"},
                headers=ADMIN,
            )
            assert r.status_code == 201, r.text
        driver = Driver("unused", 0, 0)
        for index in range(120):
            kind, body = driver.lead(index)
            lead_id = await backend.post_lead(**body)
            driver.posted.append(Posted(index, kind, lead_id, time.time(), 1, False))
            if index % 10 == 9:
                await asyncio.sleep(0.05)  # leads arrive while consumers rewind
        accepted = {p.lead_id: p for p in driver.posted}
        database = SqliteFile(backend.settings.data_dir)
        await asyncio.to_thread(wait_drained, database, accepted)
        await asyncio.to_thread(database.check, driver, accepted)
    finally:
        await backend.stop()
    for service in ("qualifier", "router", "nurture", "audit"):
        assert injected[service] > 0, f"no error was injected into {service}: {injected}"
