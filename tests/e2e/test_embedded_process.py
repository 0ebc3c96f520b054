"""`leadfarm up` as a user runs it: first start prints the dashboard's and the API docs' URLs
and an admin key once (`/` leads to the dashboard), a posted lead has a timeline through the
qualifier to the router or nurture within a second, SIGTERM stops it cleanly, and a restart
keeps the data, prints no new key and says how to get back in."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import Process, free_port, stopped_cleanly, wait_for

pytestmark = pytest.mark.e2e

KEY = re.compile(r"\b(lf_[0-9a-f]{12}_[A-Za-z0-9_-]+)")


def test_leadfarm_up_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["up", "--data-dir", str(tmp_path / "data"), "--port", str(port)]
    env = {"LEADFARM_LOG_LEVEL": "INFO"}
    first = Process(args, env, tmp_path / "first.log")
    # Closed whatever fails: a client left open fails whichever test next collects its socket.
    with httpx.Client(base_url=base, timeout=5) as http:
        served_twice(first, args, base, http, tmp_path)


def served_twice(
    first: Process, args: list[str], base: str, http: httpx.Client, tmp_path: Path
) -> None:
    """The first start's checks, then a restart on the same data."""
    try:
        first.wait_ready(base)
        match = wait_for(lambda: KEY.search(first.output()))
        assert isinstance(match, re.Match)
        auth = {"Authorization": f"Bearer {match.group(1)}"}
        banner = first.output()
        assert f"{base}/audit/v1/dashboard" in banner
        assert f"{base}/docs" in banner
        home = http.get("/")
        assert home.status_code == 307
        assert home.headers["location"] == "/audit/v1/dashboard"
        http.headers.update(auth)
        assert (
            http.post(
                "/router/v1/reps", json={"id": "ana", "name": "Ana", "email": "ana@example.com"}
            ).status_code
            == 201
        )

        posted = time.monotonic()
        ready = http.post(
            "/ingest/v1/leads",
            json={
                "email": "pii.check@acme.example",
                "phone": "+49 30 9876543",
                "company": "Acme",
                "timeframe_days": 14,
                "asked_to_be_contacted": True,
            },
        ).json()["lead_id"]
        later = http.post(
            "/ingest/v1/leads", json={"email": "later@beta.example", "timeframe_days": 365}
        ).json()["lead_id"]

        def timeline_types(lead_id: str) -> list[str]:
            response = http.get(f"/audit/v1/leads/{lead_id}/timeline")
            return [e["type"] for e in response.json()["events"]] if response.is_success else []

        wait_for(lambda: "leadfarm.lead.assigned.v1" in timeline_types(ready), timeout=1.0)
        wait_for(lambda: "leadfarm.nurture.enrolled.v1" in timeline_types(later), timeout=1.0)
        assert time.monotonic() - posted < 2.0
        # Started, the process froze what it is made of out of the collector's walks.
        frozen = re.search(r"^leadfarm_gc_frozen_objects (\S+)$", http.get("/metrics").text, re.M)
        assert frozen is not None
        assert float(frozen.group(1)) > 10_000

        # Its WAL is checkpointed on a thread of its own, every quarter of a second; the
        # first is waited for, not expected by a given moment (a busy CI machine delays it).
        def checkpoints() -> float:
            found = re.search(
                r"^leadfarm_sqlite_checkpoints_total (\S+)$", http.get("/metrics").text, re.M
            )
            assert found is not None
            return float(found.group(1))

        wait_for(lambda: checkpoints() >= 1, timeout=10.0)
    finally:
        assert stopped_cleanly(first), first.output()[-2000:]
    log = first.output()
    assert "pii.check@acme.example" not in log
    assert "9876543" not in log

    second = Process(args, {}, tmp_path / "second.log")
    try:
        second.wait_ready(base)
        time.sleep(0.2)
        assert not KEY.search(second.output()), "the admin key is printed only once"
        assert "the admin key printed at first start" in second.output()
        assert "LEADFARM_ADMIN_KEY" in second.output()
        kept = http.get(f"/audit/v1/leads/{ready}/timeline")
        assert kept.status_code == 200
    finally:
        assert stopped_cleanly(second), second.output()[-2000:]


def test_a_second_leadfarm_up_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    """Two processes on one SQLite file would each run every consumer, timer and worker;
    the second is refused with a clear message, and the first keeps running."""
    data = str(tmp_path / "data")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    first = Process(["up", "--data-dir", data, "--port", str(port)], {}, tmp_path / "first.log")
    try:
        first.wait_ready(base)
        second = Process(
            ["up", "--data-dir", data, "--port", str(free_port())], {}, tmp_path / "second.log"
        )
        second.proc.wait(timeout=60)
        assert second.terminate() == 3, second.output()[-2000:]
        assert "another Leadfarm process is using the data directory" in second.output()
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    finally:
        assert stopped_cleanly(first), first.output()[-2000:]
    # The lock goes with the process: a new start after the first one stopped is fine.
    again = Process(["up", "--data-dir", data, "--port", str(port)], {}, tmp_path / "again.log")
    try:
        again.wait_ready(base)
    finally:
        assert stopped_cleanly(again), again.output()[-2000:]
