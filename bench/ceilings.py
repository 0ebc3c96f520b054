"""The ceilings Leadfarm is compared with, measured in the same run.

- HTTP: `bench.bare`, a bare uvicorn + FastAPI endpoint answering 202, driven by the same
  driver with the same signed webhooks.
- Durable floor: `bench.durable`, the least a webhook endpoint can do that stores each
  webhook by group commit and relays it to Kafka through an outbox, as ingest must; its
  ratio to the HTTP ceiling is as far as the ingest endpoint alone could go.
- Transport: a raw aiokafka produce -> consume -> produce -> consume chain with as many
  Kafka hops as a lead makes in the cluster. A lead's path is webhook -> ingest (HTTP) ->
  topic `<ns>.ingest` (lead.captured) -> qualifier -> topic `<ns>.qualifier`
  (lead.qualified) -> router, which then posts `lead.assigned` to the rep's tool over HTTP
  (its own Kafka record of lead.assigned is not on the path): **two Kafka hops**. The chain
  uses the producer settings of `services/bus/kafka.py` (idempotent, acks=all, linger 2 ms)
  and commits offsets after each batch, as the consumer runner does, but has no database.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.stats import Latency, latency_of

HOPS = 2
PAYLOAD_PAD = "x" * 1200  # about the size of a lead.captured envelope


@dataclass
class ChainResult:
    hops: int
    fixed_rate: float
    fixed_latency_ms: Latency
    fixed_delivered: int
    fixed_sent: int
    max_msgs_per_s: float
    max_latency_ms: Latency
    max_delivered: int
    max_sent: int
    partitions: int
    extra: dict[str, Any] = field(default_factory=dict)


async def kafka_chain(
    bootstrap: str, rate: float, duration: float, max_duration: float, partitions: int
) -> ChainResult:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    namespace = f"benchchain{uuid.uuid4().hex[:8]}"
    topics = [f"{namespace}.hop{i}" for i in range(HOPS)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(t, partitions, 1) for t in topics])

    def producer() -> Any:
        return AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=2
        )

    def consumer(topic: str) -> Any:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=f"{namespace}.{topic}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )

    source, relay_out = producer(), producer()
    relay_in, sink = consumer(topics[0]), consumer(topics[-1])
    for client in (source, relay_out, relay_in, sink):
        await client.start()
    sent_at: dict[int, float] = {}
    arrived: dict[int, float] = {}
    got = asyncio.Event()

    async def relay() -> None:
        while True:
            batches = await relay_in.getmany(timeout_ms=100, max_records=500)
            futures = []
            for records in batches.values():
                for record in records:
                    futures.append(await relay_out.send(topics[-1], record.value, key=record.key))
            if futures:
                await asyncio.gather(*futures)
                await relay_in.commit()

    async def drain() -> None:
        while True:
            batches = await sink.getmany(timeout_ms=100, max_records=500)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    arrived.setdefault(int(record.key), now)
            if batches:
                await sink.commit()
                got.set()

    tasks = [asyncio.create_task(relay()), asyncio.create_task(drain())]
    try:
        # aiokafka has no event for "partitions assigned"; poll it (for up to a minute).
        for _ in range(1200):
            if relay_in.assignment() and sink.assignment():
                break
            await asyncio.sleep(0.05)

        async def send(seq: int, intended: float) -> Any:
            sent_at[seq] = intended
            value = orjson.dumps({"seq": seq, "pad": PAYLOAD_PAD})
            return await source.send(topics[0], value, key=str(seq).encode())

        async def wait_for(seqs: range, within: float) -> None:
            deadline = time.monotonic() + within
            while time.monotonic() < deadline and not all(s in arrived for s in seqs):
                got.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(got.wait(), timeout=0.5)

        # Warm-up: the first records also wait for the group's first fetch.
        for seq in range(20):
            await send(-1 - seq, time.monotonic())
        await wait_for(range(-20, 0), 30)

        count = max(1, int(rate * duration))
        start = time.monotonic() + 0.05
        futures = []
        for seq in range(count):
            intended = start + seq / rate
            delay = intended - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            futures.append(await send(seq, intended))
        await asyncio.gather(*futures)
        fixed = range(count)
        await wait_for(fixed, 30)

        first = count + 1000
        seq = first
        stop_at = time.monotonic() + max_duration
        started = time.monotonic()
        while time.monotonic() < stop_at:
            futures = [await send(s, time.monotonic()) for s in range(seq, seq + 200)]
            await asyncio.gather(*futures)
            seq += 200
        burst = range(first, seq)
        await wait_for(burst, 60)
        last = max((arrived[s] for s in burst if s in arrived), default=time.monotonic())
        delivered = sum(1 for s in burst if s in arrived)
        return ChainResult(
            hops=HOPS,
            fixed_rate=rate,
            fixed_latency_ms=latency_of([arrived[s] - sent_at[s] for s in fixed if s in arrived]),
            fixed_delivered=sum(1 for s in fixed if s in arrived),
            fixed_sent=count,
            max_msgs_per_s=delivered / max(last - started, 1e-9),
            max_latency_ms=latency_of([arrived[s] - sent_at[s] for s in burst if s in arrived]),
            max_delivered=delivered,
            max_sent=len(burst),
            partitions=partitions,
            extra={"driver": "one asyncio process: source producer, relay, sink"},
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in (source, relay_out, relay_in, sink):
            await client.stop()
        try:
            await admin.delete_topics(topics)
        finally:
            await admin.close()


def bare_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.bare", "--port", str(port)]


def durable_command(port: int, database: str, kafka: str, topic: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.durable",
        *("--port", str(port), "--database", database, "--kafka", kafka, "--topic", topic),
    ]
