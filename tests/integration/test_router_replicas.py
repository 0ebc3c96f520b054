"""Two router replicas on one PostgreSQL database and one consumer group: sales-ready leads
arrive on the qualifier's topic, both replicas route at once, no lead is assigned twice and
the weighted shares still hold."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from contracts.events import Decision, LeadProfile, LeadQualified, make_envelope
from contracts.topics import topic_for
from router.models import assignments, leads
from services.app import create_app
from services.consumer import Incoming
from services.db import Tx
from services.runtime import Runtime, cluster_runtime
from tests.backends import ADMIN, eventually, leadfarm_test_settings, topic_records
from tests.infra import ScratchDatabase

pytestmark = pytest.mark.integration

LEADS = 300
WEIGHTS = {"ana": 1, "bo": 2, "cy": 3}


def qualified(lead_id: str) -> bytes:
    data = LeadQualified(
        lead_id=lead_id,
        decision=Decision(
            lifecycle="prospect",
            stage="sales_qualified",
            term="short",
            score=80,
            definition_version="test",
        ),
        lead=LeadProfile(source="website", email=f"{lead_id}@acme.example"),
    )
    return make_envelope(data, time=datetime.now(UTC)).to_json()


def count_handled(runtime: Runtime, handled: Counter[int], index: int) -> None:
    """Count, per replica, the qualified leads its consumer handled."""
    handlers: Any = runtime.specs[0].batch_handlers
    original = handlers[LeadQualified]

    async def counting(tx: Tx, events: Sequence[Incoming[LeadQualified]]) -> None:
        await original(tx, events)
        handled[index] += len(events)

    handlers[LeadQualified] = counting


async def test_two_replicas_never_assign_a_lead_twice_and_stay_fair(
    pg_database: ScratchDatabase, kafka: str
) -> None:
    settings = leadfarm_test_settings(
        database_url=pg_database.url, kafka_bootstrap_servers=kafka, topic_partitions=4
    )
    replicas = [cluster_runtime(settings, "router") for _ in range(2)]
    handled: Counter[int] = Counter()
    for index, replica in enumerate(replicas):
        count_handled(replica, handled, index)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(replicas[0])), base_url="http://lf"
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    try:
        for replica in replicas:
            await replica.start()
        for rep_id, weight in WEIGHTS.items():
            body = {"id": rep_id, "name": rep_id, "email": f"{rep_id}@x.example", "weight": weight}
            response = await http.post("/router/v1/reps", json=body, headers=ADMIN)
            assert response.status_code == 201, response.text

        async def both_in_the_group() -> bool:
            # Each replica's consumer holds some of the qualifier topic's partitions.
            # (The router reads other topics too, e.g. audit's erasure requests.)
            qualifier_topic = topic_for("qualifier", settings.topic_namespace)
            owned = [
                sum(
                    1
                    for tp in getattr(r.consumers[0].subscription, "_consumer").assignment()  # noqa: B009
                    if tp.topic == qualifier_topic
                )
                for r in replicas
            ]
            return all(owned) and sum(owned) == 4

        await eventually(both_in_the_group, timeout=60)

        await producer.start()
        topic = topic_for("qualifier", settings.topic_namespace)
        lead_ids = [str(uuid.uuid4()) for _ in range(LEADS)]
        started = time.monotonic()
        for lead_id in lead_ids:
            await producer.send(topic, key=lead_id.encode(), value=qualified(lead_id))
        await producer.flush()

        unit = replicas[0].units["router"]

        async def all_routed() -> int | None:
            async with unit.read() as conn:
                n = await conn.scalar(
                    select(func.count()).select_from(leads).where(leads.c.status == "assigned")
                )
            return n if n == LEADS else None

        await eventually(all_routed, timeout=120)
        elapsed = time.monotonic() - started

        async with unit.read() as conn:
            per_lead = (
                await conn.execute(
                    select(assignments.c.lead_id, func.count()).group_by(assignments.c.lead_id)
                )
            ).all()
            per_rep: dict[str, int] = dict(
                (
                    await conn.execute(
                        select(assignments.c.rep_id, func.count()).group_by(assignments.c.rep_id)
                    )
                ).all()
            )
        router_topic = topic_for("router", settings.topic_namespace)

        async def all_said() -> list[bytes] | None:
            records = await topic_records(kafka, router_topic, settings.topic_partitions)
            said = [r.value for r in records if b'"leadfarm.lead.assigned.v1"' in r.value]
            return said if len(said) >= LEADS else None

        said = await eventually(all_said, timeout=60)
        assert len(per_lead) == LEADS
        assert {n for _, n in per_lead} == {1}, "no lead assigned twice"
        said_per_lead = Counter(orjson.loads(value)["subject"] for value in said)
        assert set(said_per_lead) == set(lead_ids)
        assert set(said_per_lead.values()) == {1}, "one lead.assigned per lead"
        total = sum(WEIGHTS.values())
        for rep_id, weight in WEIGHTS.items():
            share = LEADS * weight / total
            assert abs(per_rep[rep_id] - share) <= 1, per_rep
        assert handled[0] > 0, "replica one routed some"
        assert handled[1] > 0, "replica two routed some"
        assert handled[0] + handled[1] == LEADS
        assert elapsed < 60, f"{LEADS} leads took {elapsed:.1f}s"
    finally:
        await producer.stop()
        await http.aclose()
        for replica in replicas:
            await replica.stop()
