"""The fault suite's finding, as a fast test: after a failed send, the Kafka bus must not
keep using the same idempotent producer.

A send that fails or times out (the broker restarting) leaves batches in aiokafka's producer
with sequence numbers the broker never stored; after the restart every later send of that
producer id fails with OutOfOrderSequenceNumber, and the service's events stop for good. The
fake below is such a wedged producer: only a fresh one can publish.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber

from services.bus import kafka
from services.outbox import OutboundRecord


class _Closable:
    async def close(self) -> None:
        return None

    async def fetch_all_metadata(self) -> None:
        return None


class FakeProducer:
    made: list[FakeProducer] = []

    def __init__(self, **settings: Any) -> None:
        self.wedged = not FakeProducer.made  # the first one lived through a broker restart
        self.sent: list[bytes] = []
        self.client = _Closable()
        self._sender = _Closable()
        FakeProducer.made.append(self)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, topic: str, *, value: bytes, key: bytes | None, headers: Any) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.wedged:
            future.set_exception(OutOfOrderSequenceNumber())
        else:
            self.sent.append(value)
            future.set_result(None)
        return future


async def test_a_failed_send_gets_a_fresh_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeProducer.made = []
    monkeypatch.setattr(kafka, "AIOKafkaProducer", FakeProducer)
    bus = kafka.KafkaBus("127.0.0.1:1", send_timeout_s=1, client_id="t")
    await bus.start()
    record = OutboundRecord(topic="t.ingest", key="lead", value=b"{}", headers={})

    with pytest.raises(OutOfOrderSequenceNumber):
        await bus.publish([record])  # the row stays in the outbox; the relay retries it
    await bus.publish([record])

    assert len(FakeProducer.made) == 2
    assert FakeProducer.made[1].sent == [b"{}"]
    await bus.ping()
    await bus.stop()
