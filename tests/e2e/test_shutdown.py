"""SIGTERM on `leadfarm up`: /readyz turns 503 while the process still serves (the drain),
then it stops within the bound, exits 0, and a restart loses no accepted lead."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import Process, free_port, wait_for

pytestmark = pytest.mark.e2e

ADMIN_KEY = "shutdown-test-admin-key-0123456789"


def test_sigterm_turns_unready_first_then_exits_cleanly_within_the_bound(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["up", "--data-dir", str(tmp_path / "data"), "--port", str(port)]
    env = {
        "LEADFARM_ADMIN_KEY": ADMIN_KEY,
        "LEADFARM_SHUTDOWN_DRAIN_S": "1.5",
        "LEADFARM_SHUTDOWN_TIMEOUT_S": "10",
    }
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    first = Process(args, env, tmp_path / "first.log")
    first.wait_ready(base)
    leads = [
        httpx.post(
            f"{base}/ingest/v1/leads",
            json={"email": f"p{i}@acme.example", "timeframe_days": 300},
            headers=auth,
            timeout=5,
        ).json()["lead_id"]
        for i in range(20)
    ]
    sent = time.monotonic()
    first.proc.send_signal(15)
    status = wait_for(lambda: httpx.get(f"{base}/readyz", timeout=1).status_code == 503)
    assert status is True  # unready while the listener is still open
    code = first.proc.wait(timeout=15)
    took = time.monotonic() - sent
    assert code == 0, first.output()[-2000:]
    assert took < 12, took
    assert "runtime stopped" in first.output()
    first.terminate()

    second = Process(args, env, tmp_path / "second.log")
    try:
        second.wait_ready(base)

        def complete() -> bool:
            for lead_id in leads:
                response = httpx.get(
                    f"{base}/audit/v1/leads/{lead_id}/timeline", headers=auth, timeout=5
                )
                types = (
                    {e["type"] for e in response.json()["events"]} if response.is_success else set()
                )
                if "leadfarm.lead.deferred.v1" not in types:
                    return False
            return True

        assert wait_for(complete, timeout=30)
    finally:
        second.terminate()
    assert not re.search(r"Traceback", second.output())
