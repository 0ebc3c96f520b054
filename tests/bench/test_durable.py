"""The durable floor (bench/durable.py) keeps the promise it is the floor of: a webhook is
answered only once it is committed, and every stored webhook reaches Kafka, once."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.durable import open_floor
from tests.infra import ScratchDatabase, topic_namespace

pytestmark = [pytest.mark.bench, pytest.mark.integration]

WEBHOOKS = 60


async def stored_and_relayed(database: str, kafka: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    floor = await open_floor(database, kafka, topic)
    reader = await asyncpg.connect(database)
    try:

        async def one(n: int) -> None:
            await floor.store(f"source{n % 3}", f'{{"n": {n}}}', f"sig{n}")
            # Answered: so committed, and seen by any other connection.
            body = await reader.fetchval(
                "SELECT body FROM floor_webhooks WHERE signature = $1", f"sig{n}"
            )
            assert body == f'{{"n": {n}}}'

        for n in range(WEBHOOKS):  # reads on `reader` are one at a time
            await one(n)
        await asyncio.gather(*(floor.store("burst", f'{{"b": {n}}}', f"b{n}") for n in range(40)))
        assert await reader.fetchval("SELECT count(*) FROM floor_webhooks") == WEBHOOKS + 40

        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=kafka, auto_offset_reset="earliest", group_id=topic
        )
        await consumer.start()
        try:
            values: list[bytes] = []
            for _ in range(100):
                batches = await consumer.getmany(timeout_ms=200)
                values += [r.value for records in batches.values() for r in records]
                if len(values) >= WEBHOOKS + 40:
                    break
        finally:
            await consumer.stop()
        expected = {f'{{"n": {n}}}'.encode() for n in range(WEBHOOKS)}
        expected |= {f'{{"b": {n}}}'.encode() for n in range(40)}
        assert sorted(values) == sorted(expected)  # each one, once
        assert await reader.fetchval("SELECT count(*) FROM floor_outbox") == 0
    finally:
        await reader.close()
        await floor.close()


def test_the_floor_answers_after_its_commit_and_relays_each_webhook_once(
    pg_database: ScratchDatabase, kafka: str
) -> None:
    database = pg_database.url.replace("postgresql+asyncpg://", "postgresql://")
    asyncio.run(stored_and_relayed(database, kafka, f"{topic_namespace('floor')}.webhooks"))
