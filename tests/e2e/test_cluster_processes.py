"""The cluster as an SRE runs it: each service its own `leadfarm serve` process on real
Kafka and PostgreSQL; two leads cross all five; SIGTERM stops each one cleanly."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from contracts.topics import SERVICES
from tests.backends import ADMIN, ADMIN_KEY
from tests.e2e.processes import Process, free_port, stopped_cleanly, wait_for
from tests.infra import ScratchDatabase, topic_namespace
from tests.integration.test_flow import LONG_TERM, SALES_READY

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_five_serve_processes_route_two_leads(
    tmp_path: Path, pg_database: ScratchDatabase, kafka: str
) -> None:
    env = {
        "LEADFARM_DATABASE_URL": pg_database.url,
        "LEADFARM_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "LEADFARM_TOPIC_NAMESPACE": topic_namespace("e2e"),
        "LEADFARM_TOPIC_PARTITIONS": "2",
        "LEADFARM_ADMIN_KEY": ADMIN_KEY,
    }
    ports = {s: free_port() for s in SERVICES}
    processes = {
        s: Process(["serve", s, "--port", str(ports[s])], env, tmp_path / f"{s}.log")
        for s in SERVICES
    }
    url = {s: f"http://127.0.0.1:{p}" for s, p in ports.items()}
    try:
        for service, process in processes.items():
            process.wait_ready(url[service], timeout=90)
        with httpx.Client(headers=ADMIN, timeout=5) as http:
            rep = {"id": "ana", "name": "Ana", "email": "ana@example.com"}
            assert http.post(f"{url['router']}/router/v1/reps", json=rep).status_code == 201
            ids = [
                http.post(f"{url['ingest']}/ingest/v1/leads", json=lead).json()["lead_id"]
                for lead in (SALES_READY, LONG_TERM)
            ]

            def sources(lead_id: str) -> set[str]:
                r = http.get(f"{url['audit']}/audit/v1/leads/{lead_id}/timeline")
                return {e["source"] for e in r.json()["events"]} if r.is_success else set()

            wait_for(lambda: "/leadfarm/router" in sources(ids[0]), timeout=30)
            wait_for(lambda: "/leadfarm/nurture" in sources(ids[1]), timeout=30)
            # audit's own events (the forecast) come at audit's pace; the four others are asked.
            said = (sources(ids[0]) | sources(ids[1])) - {"/leadfarm/audit"}
            assert said == {
                "/leadfarm/ingest",
                "/leadfarm/qualifier",
                "/leadfarm/router",
                "/leadfarm/nurture",
            }
            # The fifth, audit, answered every timeline; and each service has its own schema.
            assert (
                http.get(f"{url['qualifier']}/qualifier/v1/leads/{ids[0]}/decision").json()["stage"]
                == "sales_qualified"
            )
            for service in SERVICES:
                ready = http.get(f"{url[service]}/readyz").json()
                assert ready == {"status": "ready", "runtime": "cluster"}
    finally:
        for service, process in processes.items():
            assert stopped_cleanly(process), f"{service}:\n{process.output()[-2000:]}"
