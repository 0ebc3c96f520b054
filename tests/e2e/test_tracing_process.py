"""`leadfarm up` with `OTEL_TRACES_EXPORTER=console` prints its spans: the request that
brought a lead and each service's processing of its events, in one trace."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import Process, free_port, stopped_cleanly, wait_for

pytestmark = pytest.mark.e2e

ADMIN_KEY = "e2e-admin-key-0123456789abcdef0123"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_leadfarm_up_prints_its_spans_with_the_console_exporter(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "LEADFARM_ADMIN_KEY": ADMIN_KEY,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    up = Process(
        ["up", "--data-dir", str(tmp_path / "data"), "--port", str(port)],
        env,
        tmp_path / "up.log",
    )
    try:
        up.wait_ready(base)
        response = httpx.post(
            f"{base}/ingest/v1/leads",
            json={"email": "trace.me@acme.example", "company": "Acme", "timeframe_days": 14},
            headers={
                "Authorization": f"Bearer {ADMIN_KEY}",
                "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
            },
            timeout=10,
        )
        assert response.status_code == 202, response.text

        def printed() -> set[str] | None:
            # The console exporter prints each span as JSON; its resource names the service.
            services = set(
                re.findall(
                    r'"trace_id": "0x' + TRACE_ID + r'".*?"service\.name": "(\w+)"',
                    up.output(),
                    re.DOTALL,
                )
            )
            return services if {"qualifier", "audit"} <= services else None

        wait_for(printed, timeout=30)
        output = up.output()
        assert '"name": "POST /ingest/v1/leads"' in output
        assert '"service.name": "leadfarm"' in output, "the process's own spans"
        assert "trace.me@acme.example" not in output
    finally:
        assert stopped_cleanly(up), up.output()[-3000:]
