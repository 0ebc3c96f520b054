"""Nothing accepted is lost: a lead taken while the Kafka broker is down sits in ingest's
outbox and is published, once, when the broker is back. Stops and starts the real broker."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.tables import outbox
from tests import infra
from tests.backends import ClusterBackend, eventually
from tests.integration.test_flow import SALES_READY, add_rep, types

KAFKA_SH = Path(__file__).parents[2] / "deploy" / "local" / "kafka.sh"

pytestmark = pytest.mark.integration


def kafka_sh(action: str) -> None:
    result = subprocess.run(
        ["bash", str(KAFKA_SH), action], capture_output=True, text=True, timeout=180
    )
    if result.returncode != 0:
        infra.unavailable(
            f"control of the local Kafka broker ({KAFKA_SH.name} {action}: "
            f"{result.stderr.strip() or result.stdout.strip()})"
        )


@pytest.fixture
async def cluster(pg_database: infra.ScratchDatabase, kafka: str) -> AsyncIterator[ClusterBackend]:
    backend = await ClusterBackend(pg_database.url, kafka, kafka_send_timeout_s=3.0).start()
    try:
        yield backend
    finally:
        kafka_sh("start")  # whatever happened, leave the broker running
        await backend.stop()


async def unpublished(backend: ClusterBackend) -> int:
    async with backend.runtimes["ingest"].units["ingest"].read() as conn:
        count = await conn.scalar(select(func.count()).where(outbox.c.published_at.is_(None)))
    return int(count or 0)


async def test_a_lead_accepted_while_the_broker_is_down_is_published_when_it_is_back(
    cluster: ClusterBackend,
) -> None:
    await add_rep(cluster)
    before = await cluster.post_lead(**SALES_READY)
    await cluster.timeline_with(before, "leadfarm.lead.assigned.v1")

    kafka_sh("stop")
    during = await cluster.post_lead(**{**SALES_READY, "email": "down@acme.example"})
    assert await unpublished(cluster) >= 2, "received and captured wait in the outbox"

    kafka_sh("start")
    events = await cluster.timeline_with(during, "leadfarm.lead.assigned.v1")
    assert types(events).count("leadfarm.lead.captured.v1") == 1
    assert types(events).count("leadfarm.lead.assigned.v1") == 1
    # Sends that timed out while the broker was down may still have gone out from the
    # producer's buffer; the relay re-sends them (the inbox absorbs the repeats) and marks
    # every row sent.
    await eventually(lambda: _all_sent(cluster))


async def _all_sent(cluster: ClusterBackend) -> bool:
    return await unpublished(cluster) == 0
