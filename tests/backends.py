"""The two runtimes behind one test interface, so each behaviour is written once and run on
both (embedded SQLite log, and real Kafka + PostgreSQL with one runtime per service)."""

from __future__ import annotations

import asyncio
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import select

from contracts.topics import SERVICES, ServiceName, dlq_for, topic_for
from services.app import create_app
from services.clock import Clock
from services.outbox import write_record
from services.runtime import Runtime, cluster_runtime, embedded_runtime
from services.settings import Settings
from services.tables import outbox
from tests import infra

ADMIN_KEY = "test-admin-key-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def leadfarm_test_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "admin_key": ADMIN_KEY,
        "topic_namespace": infra.topic_namespace(),
        "topic_partitions": 2,
        "consumer_retry_backoff_s": 0.01,
        "relay_poll_interval_s": 0.2,
        "timer_poll_interval_s": 0.2,
        "log_format": "text",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass(frozen=True)
class Record:
    headers: dict[str, bytes]
    key: bytes | None
    value: bytes


class Backend(ABC):
    """A running Leadfarm with an HTTP client per service; each runtime says how its
    records are injected and read."""

    name: str
    settings: Settings
    runtimes: dict[ServiceName, Runtime]
    clients: dict[ServiceName, httpx.AsyncClient]

    def client(self, service: ServiceName) -> httpx.AsyncClient:
        return self.clients[service]

    async def post_lead(self, **lead: Any) -> str:
        response = await self.client("ingest").post("/ingest/v1/leads", json=lead, headers=ADMIN)
        assert response.status_code == 202, response.text
        lead_id: str = response.json()["lead_id"]
        return lead_id

    async def timeline(self, lead_id: str) -> list[dict[str, Any]]:
        response = await self.client("audit").get(
            f"/audit/v1/leads/{lead_id}/timeline", headers=ADMIN
        )
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    async def timeline_with(
        self, lead_id: str, *types: str, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Wait until the lead's timeline holds every one of `types`."""

        async def probe() -> list[dict[str, Any]] | None:
            events = await self.timeline(lead_id)
            seen = {e["type"] for e in events}
            return events if all(t in seen for t in types) else None

        return await eventually(probe, timeout=timeout)

    def topic(self, service: ServiceName) -> str:
        return topic_for(service, self.settings.topic_namespace)

    @abstractmethod
    async def inject(self, service: ServiceName, key: str | None, value: bytes) -> None:
        """Put a raw record on `service`'s topic, as a redelivery or a bad producer would."""

    @abstractmethod
    async def dead_letters(self, service: ServiceName) -> list[tuple[dict[str, str], bytes]]:
        """The dead letters on `service`'s topic: headers and value."""

    @abstractmethod
    async def records(self, service: ServiceName) -> list[Record]:
        """Every record on `service`'s topic, as a consumer outside Leadfarm receives it."""

    async def stop(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        for runtime in self.runtimes.values():
            await runtime.stop()


class EmbeddedBackend(Backend):
    name = "embedded"

    def __init__(self, data_dir: Path, clock: Clock | None = None, **overrides: Any) -> None:
        self.settings = leadfarm_test_settings(data_dir=data_dir, **overrides)
        self.runtime = embedded_runtime(self.settings, clock=clock)
        self.runtimes = {s: self.runtime for s in SERVICES}

    async def start(self) -> EmbeddedBackend:
        await self.runtime.start()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(self.runtime)), base_url="http://lf"
        )
        self.clients = {s: client for s in SERVICES}
        return self

    async def stop(self) -> None:
        await self.clients["ingest"].aclose()
        await self.runtime.stop()

    async def inject(self, service: ServiceName, key: str | None, value: bytes) -> None:
        async with self.runtime.units[service].transaction() as tx:
            await write_record(
                tx, self.topic(service), key, value, event_id=f"injected-{uuid.uuid4()}"
            )

    async def dead_letters(self, service: ServiceName) -> list[tuple[dict[str, str], bytes]]:
        import orjson

        async with self.runtime.units[service].read() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.headers, outbox.c.payload).where(
                        outbox.c.topic == dlq_for(self.topic(service))
                    )
                )
            ).all()
        return [(orjson.loads(r.headers), r.payload.encode()) for r in rows]

    async def records(self, service: ServiceName) -> list[Record]:
        import orjson

        async with self.runtime.units[service].read() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.headers, outbox.c.key, outbox.c.payload)
                    .where(outbox.c.topic == self.topic(service))
                    .order_by(outbox.c.id)
                )
            ).all()
        return [
            Record(
                headers={k: v.encode() for k, v in orjson.loads(r.headers or "{}").items()},
                key=r.key.encode() if r.key else None,
                value=r.payload.encode(),
            )
            for r in rows
        ]


class ClusterBackend(Backend):
    """Five cluster runtimes (one per service) in this process, on real Kafka and PostgreSQL."""

    name = "cluster"

    def __init__(self, database_url: str, kafka: str, clock: Clock | None = None, **overrides: Any):
        self.settings = leadfarm_test_settings(
            database_url=database_url, kafka_bootstrap_servers=kafka, **overrides
        )
        self.runtimes = {s: cluster_runtime(self.settings, s, clock=clock) for s in SERVICES}

    async def start(self) -> ClusterBackend:
        self.clients = {}
        for service, runtime in self.runtimes.items():
            await runtime.start()
            self.clients[service] = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://lf"
            )
        return self

    async def inject(self, service: ServiceName, key: str | None, value: bytes) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(
                self.topic(service), value=value, key=key.encode() if key else None
            )
        finally:
            await producer.stop()

    async def dead_letters(self, service: ServiceName) -> list[tuple[dict[str, str], bytes]]:
        consumer = AIOKafkaConsumer(
            dlq_for(self.topic(service)),
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=1000)
            return [
                ({k: v.decode() for k, v in r.headers}, r.value)
                for records in batches.values()
                for r in records
            ]
        finally:
            await consumer.stop()

    async def records(self, service: ServiceName) -> list[Record]:
        return await topic_records(
            self.settings.kafka_bootstrap_servers,
            self.topic(service),
            self.settings.topic_partitions,
        )


async def topic_records(bootstrap_servers: str, topic: str, partitions: int) -> list[Record]:
    """Every record of a Kafka topic, as it is now (a relay deletes what it published from
    its outbox, so what a cluster service said is read here)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        got: list[Record] = []
        while any([await consumer.position(tp) < ends[tp] for tp in assigned]):
            batches = await consumer.getmany(timeout_ms=500)
            got += [
                Record(headers=dict(r.headers), key=r.key, value=r.value)
                for records in batches.values()
                for r in records
            ]
        return got
    finally:
        await consumer.stop()
