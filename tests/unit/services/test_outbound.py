"""The outbound client: answers come back whole and decoded, within the cap."""

from __future__ import annotations

import gzip

import httpx
import pytest
from aiohttp import web

from services.outbound import OutboundClient, ResponseTooLarge


async def test_a_compressed_answer_is_decoded_and_counted_after_decoding() -> None:
    body = b'{"id": "esp-42"}' + b" " * 5000

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "identity"
        return httpx.Response(
            200, content=gzip.compress(body), headers={"content-encoding": "gzip"}
        )

    async with OutboundClient(
        deadline_s=5, user_agent="t", transport=httpx.MockTransport(answer)
    ) as client:
        response = await client.get("http://x.example/")
        assert response.content == body
        assert response.json() == {"id": "esp-42"}
    async with OutboundClient(
        deadline_s=5,
        user_agent="t",
        max_response_bytes=1000,
        transport=httpx.MockTransport(answer),
    ) as client:
        with pytest.raises(ResponseTooLarge, match="larger than 1000 bytes"):
            await client.get("http://x.example/")  # 200 bytes compressed, 5 KB decoded


async def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 2000)

    async with OutboundClient(
        deadline_s=5,
        user_agent="t",
        max_response_bytes=1000,
        transport=httpx.MockTransport(answer),
    ) as client:
        with pytest.raises(ResponseTooLarge):
            await client.get("http://x.example/")


async def test_a_real_server_is_reached_through_the_default_transport() -> None:
    """The default connections (aiohttp's, under httpx's API): the request arrives as
    sent, a compressed answer comes back decoded, and a refused connection is an
    httpx.HTTPError as callers expect."""
    seen: list[tuple[str, str, str, bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(
            (
                request.headers["user-agent"],
                request.headers["accept-encoding"],
                request.headers["webhook-id"],
                await request.read(),
            )
        )
        return web.Response(
            body=gzip.compress(b'{"ok": true}'),
            headers={"content-encoding": "gzip", "content-type": "application/json"},
        )

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with OutboundClient(deadline_s=5, user_agent="leadfarm-test") as client:
            for _ in range(3):  # the connection is kept and reused
                response = await client.post(
                    f"http://127.0.0.1:{port}/hook",
                    content=b'{"a": 1}',
                    headers={"webhook-id": "m1"},
                )
                assert response.status_code == 200
                assert response.json() == {"ok": True}
    finally:
        await runner.cleanup()
    assert seen == [("leadfarm-test", "identity", "m1", b'{"a": 1}')] * 3
    async with OutboundClient(deadline_s=5, user_agent="leadfarm-test") as client:
        with pytest.raises(httpx.ConnectError):  # refused: not a timeout
            await client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
