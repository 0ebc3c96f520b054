"""Kafka offsets are committed off the consumer's path, on the real broker: what a consumer
notes after its transaction is committed by the subscription's committer (one commit for
many batches), never more than was noted, kept when the broker refuses a commit, and
flushed when the subscription stops."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from services.bus.base import Message
from services.bus.kafka import KafkaSubscription, create_topics
from tests import infra

pytestmark = pytest.mark.integration

MESSAGES = 30


@pytest.fixture
async def topic(kafka: str) -> str:
    name = f"{infra.topic_namespace('commits')}.events"
    await create_topics(kafka, [name], partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for n in range(MESSAGES):
            await producer.send_and_wait(name, f"event {n}".encode(), key=b"lead")
    finally:
        await producer.stop()
    return name


async def committed(kafka: str, group: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group)
    await consumer.start()
    try:
        offset: int | None = await consumer.committed(TopicPartition(topic, 0))
        return offset
    finally:
        await consumer.stop()


async def read(sub: KafkaSubscription, count: int) -> list[Message]:
    """`count` messages, one fetch each (as a consumer handling one event per batch)."""
    messages: list[Message] = []
    while len(messages) < count:
        messages += await sub.fetch(1, timeout_s=5.0)
    return messages


def counting_commits(sub: KafkaSubscription) -> list[dict[Any, int]]:
    calls: list[dict[Any, int]] = []
    commit = sub._consumer.commit

    async def counted(offsets: dict[Any, int]) -> None:
        calls.append(dict(offsets))
        await commit(offsets)

    sub._consumer.commit = counted
    return calls


async def test_one_commit_covers_many_batches_and_stopping_flushes_the_rest(
    kafka: str, topic: str
) -> None:
    group = f"{topic}.coalesced"
    sub = KafkaSubscription(kafka, group, [topic], "test", commit_interval_s=2.0)
    await sub.start()
    calls = counting_commits(sub)
    try:
        for message in await read(sub, MESSAGES):
            await sub.commit([message])  # returns at once: the consumer never waits
    finally:
        await sub.stop()
    # The first note is committed at once; the other 29 wait out the interval together,
    # and stopping commits them.
    assert 1 <= len(calls) <= 3, calls
    assert await committed(kafka, group, topic) == MESSAGES


async def test_only_what_was_noted_is_committed(kafka: str, topic: str) -> None:
    group = f"{topic}.partial"
    sub = KafkaSubscription(kafka, group, [topic], "test")
    await sub.start()
    try:
        messages = await read(sub, MESSAGES)
        await sub.commit(messages[:10])  # the rest were fetched, never handled
    finally:
        await sub.stop()
    assert await committed(kafka, group, topic) == 10

    again = KafkaSubscription(kafka, group, [topic], "test")
    await again.start()
    try:
        first = (await read(again, 1))[0]
    finally:
        await again.stop()
    assert first.offset == 10


async def test_offsets_the_broker_refused_are_committed_later(kafka: str, topic: str) -> None:
    group = f"{topic}.retried"
    sub = KafkaSubscription(kafka, group, [topic], "test", commit_interval_s=0.01)
    await sub.start()
    commit = sub._consumer.commit
    refused: list[dict[Any, int]] = []

    async def refuse_once(offsets: dict[Any, int]) -> None:
        if not refused:
            refused.append(dict(offsets))
            raise KafkaConnectionError("the broker is restarting")
        await commit(offsets)

    sub._consumer.commit = refuse_once
    try:
        messages = await read(sub, 5)
        await sub.commit(messages)
        for _ in range(100):
            await asyncio.sleep(0.05)
            if refused and not sub._noted and await committed(kafka, group, topic) == 5:
                break
        assert refused == [{TopicPartition(topic, 0): 5}]
        assert await committed(kafka, group, topic) == 5
    finally:
        await sub.stop()
