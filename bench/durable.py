"""The durable floor: the least a webhook endpoint can do and still promise what Leadfarm's
ingest promises, that a 2xx means stored and that what was stored reaches Kafka.

It is served like the bare ceiling (`bench.bare`: uvicorn, FastAPI, no access log) and
driven by the same driver, and per webhook it:

- reads the body and parses it (JSON, or a form);
- computes the HMAC-SHA256 a signature check needs;
- is stored by group commit: one task writes every request waiting into PostgreSQL in one
  transaction (one multi-row insert into a webhook table, one into an outbox table), and
  each request is answered 202 only after that commit;
- is relayed: after each commit a task takes up to 500 outbox rows (`FOR UPDATE SKIP
  LOCKED`), sends them to a Kafka topic with the bus's producer settings (idempotent,
  acks=all, linger 2 ms; services/bus/kafka.py), waits for the acks and deletes the rows in
  the same transaction.

What Leadfarm's ingest does besides is left out: the provider's mapping, normalisation,
deduplication, the `lead.captured` envelope, the middlewares (body limits, control
characters, the access log and metrics, security headers, problem answers) and tracing.
The ratio of this floor to the bare endpoint is therefore about as high as the ingest
endpoint alone could go on the machine of the run (docs/benchmarks.md, "Stop 29").

Its tables are in the database given, which the bench creates for it and drops afterwards,
as it does the topic.

Run as `python -m bench.durable --port P --database URL --kafka HOST:PORT --topic T`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

import asyncpg
import orjson
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request, Response

from bench.bare import add_readiness

HMAC_KEY = b"bench-durable-floor-key-32-bytes"
RELAY_BATCH = 500
TABLES = (
    "CREATE TABLE IF NOT EXISTS floor_webhooks (id bigserial PRIMARY KEY, source text NOT NULL,"
    " body text NOT NULL, signature text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS floor_outbox (id bigserial PRIMARY KEY, key text NOT NULL,"
    " payload text NOT NULL)",
)

Waiting = tuple[str, str, str, "asyncio.Future[None]"]
"""A request waiting for its commit: the source, the body, its HMAC, and its answer."""


class Floor:
    """The group commit and the relay of one process."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, topic: str) -> None:
        self.pool = pool
        self.producer = producer
        self.topic = topic
        self.queue: asyncio.Queue[Waiting] = asyncio.Queue()
        self.committed = asyncio.Event()
        self.tasks = [asyncio.create_task(self._commit()), asyncio.create_task(self._relay())]

    async def store(self, source: str, body: str, signature: str) -> None:
        """Return once the webhook is committed."""
        answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((source, body, signature, answer))
        await answer

    async def _commit(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            sources = [w[0] for w in batch]
            bodies = [w[1] for w in batch]
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await conn.execute(
                        "INSERT INTO floor_webhooks (source, body, signature)"
                        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
                        sources,
                        bodies,
                        [w[2] for w in batch],
                    )
                    await conn.execute(
                        "INSERT INTO floor_outbox (key, payload)"
                        " SELECT * FROM unnest($1::text[], $2::text[])",
                        sources,
                        bodies,
                    )
            except Exception as error:  # noqa: BLE001 - every waiting request is told
                for waiting in batch:
                    waiting[3].set_exception(error)
                continue
            for waiting in batch:
                waiting[3].set_result(None)
            self.committed.set()

    async def _relay(self) -> None:
        while True:
            await self.committed.wait()
            self.committed.clear()
            more = True
            while more:
                more = await self._relay_once()

    async def _relay_once(self) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, key, payload FROM floor_outbox ORDER BY id LIMIT $1"
                " FOR UPDATE SKIP LOCKED",
                RELAY_BATCH,
            )
            if not rows:
                return False
            sent = [
                await self.producer.send(self.topic, r["payload"].encode(), key=r["key"].encode())
                for r in rows
            ]
            await asyncio.gather(*sent)
            await conn.execute(
                "DELETE FROM floor_outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        return True

    async def close(self) -> None:
        """Stop its tasks, then its producer and its pool."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.producer.stop()
        await self.pool.close()


async def open_floor(database: str, kafka: str, topic: str) -> Floor:
    """A floor on `database` (its tables made when missing) relaying to `topic`."""
    pool = await asyncpg.create_pool(database, min_size=2, max_size=4)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=True, acks="all", linger_ms=2
    )
    await producer.start()
    async with pool.acquire() as conn:
        for table in TABLES:
            await conn.execute(table)
    return Floor(pool, producer, topic)


def create_app(database: str, kafka: str, topic: str) -> FastAPI:
    floors: list[Floor] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        floors.append(await open_floor(database, kafka, topic))
        try:
            yield
        finally:
            await floors[0].close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/ingest/v1/webhooks/{name}")
    async def webhook(name: str, request: Request) -> Response:
        raw = await request.body()
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            parse_qs(raw.decode())
        signature = hmac.new(HMAC_KEY, raw, hashlib.sha256).hexdigest()
        await floors[0].store(name, raw.decode(), signature)
        return Response(b'{"status":"ok"}', status_code=202, media_type="application/json")

    add_readiness(app)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="a postgresql:// URL")
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--topic", required=True)
    args = parser.parse_args()
    app = create_app(args.database, args.kafka, args.topic)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
