"""Sending the webhooks: one process, one `aiohttp.ClientSession` with a connection pool.

aiohttp rather than httpx (which the rest of Leadfarm uses): on this 2-core machine httpx
spends 1.6 ms of CPU per request at 4 connections and 6.7 ms at 32, so the driver, not
the server, set the "ceiling"; aiohttp spends about 0.3 ms (docs/benchmarks.md).

`fixed_rate` is open loop: send times are fixed in advance (`start + i / rate`) and the
intended time is what latency is measured from, so a slow server shows up as latency
instead of slowing the sender down (no coordinated omission). `max_rate` is closed loop:
`concurrency` senders, each sending its next webhook as soon as the previous one answered.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

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


def rejections(sends: list[Sent]) -> dict[str, int]:
    """How many webhooks were not accepted, by status (or error when there was no answer)."""
    return dict(Counter(s.error or str(s.status) for s in sends if not s.accepted))


def client(connections: int) -> aiohttp.ClientSession:
    # Idle connections are dropped after 1 s, well before uvicorn closes them (5 s): reusing
    # one the server is closing at that moment fails the request without an answer.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=1.0),
        timeout=aiohttp.ClientTimeout(total=30.0),
        skip_auto_headers=("User-Agent",),
    )


async def send_one(http: aiohttp.ClientSession, base_url: str, sent: Sent) -> None:
    request = build(sent.delivery, base_url)
    try:
        async with http.post(
            base_url + request.path, data=request.body, headers=request.headers
        ) as response:
            await response.read()
            sent.status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        sent.status = 0
        sent.error = type(exc).__name__
    sent.answered = time.monotonic()


async def fixed_rate(
    http: aiohttp.ClientSession,
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
    http: aiohttp.ClientSession,
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
