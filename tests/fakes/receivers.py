"""A local HTTP server that misbehaves the ways a receiver or a provider's API can: answer a
byte at a time, or answer far too much. Plain asyncio streams, so that the test controls
every byte (a real framework would buffer). And `serving`, an aiohttp app of the test's own
on a free local port, for receivers that behave."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

DRIP_INTERVAL_S = 0.2
HUGE_BYTES = 64 * 1024 * 1024


@dataclass
class Receiver:
    base: str
    seen: list[str] = field(default_factory=list)
    """The paths requested, in order."""

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


async def _read_request(reader: asyncio.StreamReader) -> str:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return head.split(" ")[1]


async def _serve(
    receiver: Receiver, reader: asyncio.StreamReader, out: asyncio.StreamWriter
) -> None:
    try:
        path = await _read_request(reader)
        receiver.seen.append(path)
        if path.startswith("/drip"):
            # Each byte well within any per-read timeout; the whole answer takes minutes.
            out.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
            out.write(b"content-length: 100000\r\n\r\n")
            for _ in range(100_000):
                out.write(b" ")
                await out.drain()
                await asyncio.sleep(DRIP_INTERVAL_S)
        elif path.startswith("/huge"):
            # Chunked, so no content-length gives it away: the cap must count.
            out.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
            out.write(b"transfer-encoding: chunked\r\n\r\n")
            chunk = b"x" * 65536
            for _ in range(HUGE_BYTES // len(chunk)):
                out.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await out.drain()
            out.write(b"0\r\n\r\n")
        else:
            out.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await out.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return  # the client hung up (as the tests make it): nothing left to answer
    finally:
        out.close()


@contextlib.asynccontextmanager
async def misbehaving_receiver() -> AsyncIterator[Receiver]:
    """`/drip...` answers a byte every 0.2 s, `/huge...` 64 MiB, anything else 204 at once."""
    receiver = Receiver(base="")
    connections: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            await _serve(receiver, reader, writer)
        finally:
            connections.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    receiver.base = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        server.close()
        for task in list(connections):
            task.cancel()
        with contextlib.suppress(Exception):
            await server.wait_closed()


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[int]:
    """`app` served on 127.0.0.1 (and so on `localhost`): its port."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()
