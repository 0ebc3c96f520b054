"""`leadfarm up` with `OTEL_TRACES_EXPORTER=console` prints its spans: the request that
brought a lead and each service's processing of its events, in one trace."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from contracts.topics import SERVICES
from tests.backends import ADMIN_KEY as CLUSTER_ADMIN_KEY
from tests.e2e.processes import Process, free_port, stopped_cleanly, wait_for
from tests.infra import ScratchDatabase, topic_namespace

pytestmark = pytest.mark.e2e

ADMIN_KEY = "e2e-admin-key-0123456789abcdef0123"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


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


def _spans_of(output: str, trace_id: str) -> set[str]:
    """The service names of the printed spans of one trace."""
    return set(
        re.findall(
            r'"trace_id": "0x' + trace_id + r'".*?"service\.name": "(\w+)"', output, re.DOTALL
        )
    )


@pytest.mark.integration
def test_five_serve_processes_print_one_trace_each_under_its_own_name(
    tmp_path: Path, pg_database: ScratchDatabase, kafka: str
) -> None:
    """Over real Kafka between real processes, each `leadfarm serve` prints its part of the
    lead's trace, named after its service (OTEL_SERVICE_NAME is not set)."""
    env = {
        "LEADFARM_DATABASE_URL": pg_database.url,
        "LEADFARM_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "LEADFARM_TOPIC_NAMESPACE": topic_namespace("e2e"),
        "LEADFARM_TOPIC_PARTITIONS": "2",
        "LEADFARM_ADMIN_KEY": CLUSTER_ADMIN_KEY,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    ports = {s: free_port() for s in SERVICES}
    processes = {
        s: Process(["serve", s, "--port", str(ports[s])], env, tmp_path / f"{s}.log")
        for s in SERVICES
    }
    try:
        for service, process in processes.items():
            process.wait_ready(f"http://127.0.0.1:{ports[service]}", timeout=90)
        response = httpx.post(
            f"http://127.0.0.1:{ports['ingest']}/ingest/v1/leads",
            json={"email": "trace.me@acme.example", "company": "Acme", "timeframe_days": 14},
            headers={"Authorization": f"Bearer {CLUSTER_ADMIN_KEY}", "traceparent": TRACEPARENT},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        for service in ("ingest", "qualifier", "audit"):
            wait_for(lambda s=service: _spans_of(processes[s].output(), TRACE_ID) == {s})
    finally:
        for service, process in processes.items():
            assert stopped_cleanly(process), f"{service}:\n{process.output()[-2000:]}"
