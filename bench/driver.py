"""Sending the webhooks: one process, one `httpx.AsyncClient` with a connection pool.

`fixed_rate` is open loop: send times are fixed in advance (`start + i / rate`) and the
intended time is what latency is measured from, so a slow server shows up as latency
instead of slowing the sender down (no coordinated omission). `max_rate` is closed loop:
`concurrency` senders, each sending its next webhook as soon as the previous one answered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bench.payloads import Delivery, build
from bench.workload import Workload


@dataclass
class Sent:
    delivery: Delivery
    phase: str
    intended: float  # time.monotonic() the webhook was due to be sent
    answered: float = 0.0
    status: int = 0  # 0: no answer (connection error)
    error: str | None = None  # the exception's class when there was no answer

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


def client(connections: int) -> httpx.AsyncClient:
    # Idle connections are dropped after 1 s, well before uvicorn closes them (5 s): reusing
    # one the server is closing at that moment fails the request without an answer.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(30.0),
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=1.0,
        ),
    )


async def send_one(http: httpx.AsyncClient, base_url: str, sent: Sent) -> None:
    request = build(sent.delivery, base_url)
    try:
        response = await http.post(
            base_url + request.path, content=request.body, headers=request.headers
        )
        sent.status = response.status_code
    except httpx.HTTPError as exc:
        sent.status = 0
        sent.error = type(exc).__name__
    sent.answered = time.monotonic()


async def fixed_rate(
    http: httpx.AsyncClient,
    base_url: str,
    workload: Workload,
    rate: float,
    duration: float,
    phase: str,
    sink: list[Sent],
) -> None:
    count = max(1, int(rate * duration))
    start = time.monotonic() + 0.05
    tasks = []
    for i in range(count):
        intended = start + i / rate
        delay = intended - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent = Sent(workload.next(), phase, intended)
        sink.append(sent)
        tasks.append(asyncio.create_task(send_one(http, base_url, sent)))
    await asyncio.gather(*tasks)


async def max_rate(
    http: httpx.AsyncClient,
    base_url: str,
    workload: Workload,
    concurrency: int,
    duration: float,
    phase: str,
    sink: list[Sent],
    on_sent: Callable[[Sent], None] | None = None,
) -> None:
    stop_at = time.monotonic() + duration

    async def sender() -> None:
        while time.monotonic() < stop_at:
            sent = Sent(workload.next(), phase, time.monotonic())
            sink.append(sent)
            await send_one(http, base_url, sent)
            if on_sent is not None:
                on_sent(sent)

    await asyncio.gather(*(sender() for _ in range(concurrency)))
