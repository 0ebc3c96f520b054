"""The benchmark's smoke run on both runtimes: a few seconds of signed webhooks from four
providers (with repeated deliveries and the same people from other sources) must end in
exactly one assigned lead per person: nothing lost, nothing duplicated. Never a timing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench.run import Options, run_system
from bench.systems import Cluster, Embedded, System
from tests.infra import ScratchDatabase, topic_namespace

pytestmark = pytest.mark.bench

SMOKE = Options(
    rate=20,
    duration=2,
    steady_rate=5,
    max_duration=2,
    concurrency=4,
    drain_timeout=30,
    verify_sample=50,
    warmup=0,
)


def check(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert checks["people"] > 0
    assert checks["lost"] == 0, result
    assert checks["duplicate_leads"] == 0, result
    assert checks["duplicate_assignments"] == 0, result
    assert checks["unexpected_assignments"] == 0, result
    assert checks["bad_signatures"] == 0, result
    assert checks["ingest_people_without_one_lead"] == 0, result
    for phase in result["phases"].values():
        assert phase["webhooks_accepted"] == phase["webhooks_sent"], phase["rejected_by_status"]
        assert phase["new_leads"] == phase["leads_assigned"], phase
        assert 0 < phase["machine_busy"] <= 1.05, phase  # a share of the cores


def run(system: System) -> dict[str, Any]:
    return asyncio.run(run_system(system, SMOKE))


def test_embedded_smoke() -> None:
    embedded = Embedded()
    result = run(embedded)
    check(result)
    assert not (embedded.workdir / "data").exists()  # a run leaves no database behind
    assert (embedded.workdir / "up.log").exists()
    assert all(p["cpu_ms_per_lead_servers"] == {} for p in result["phases"].values())


@pytest.mark.integration
def test_cluster_smoke(pg_database: ScratchDatabase, kafka: str) -> None:
    cluster = Cluster(
        kafka=kafka, database_url=pg_database.url, namespace=topic_namespace("bench"), partitions=2
    )
    result = run(cluster)
    check(result)
    for phase in result["phases"].values():  # the local PostgreSQL and broker, measured
        servers = phase["cpu_ms_per_lead_servers"]
        assert servers.get("postgres", 0) > 0, servers
        assert servers.get("kafka", 0) > 0, servers
