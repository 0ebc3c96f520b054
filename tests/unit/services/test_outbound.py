"""The outbound client: answers come back whole and decoded, within the cap."""

from __future__ import annotations

import gzip

import httpx
import pytest
from aiohttp import web

from services.outbound import OutboundClient, ResponseTooLarge, _AiohttpTransport
from tests.fakes.receivers import serving


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
    async with (
        serving(app) as port,
        OutboundClient(deadline_s=5, user_agent="leadfarm-test") as client,
    ):
        for _ in range(3):  # the connection is kept and reused
            response = await client.post(
                f"http://127.0.0.1:{port}/hook",
                content=b'{"a": 1}',
                headers={"webhook-id": "m1"},
            )
            assert response.status_code == 200
            assert response.json() == {"ok": True}
    assert seen == [("leadfarm-test", "identity", "m1", b'{"a": 1}')] * 3
    async with OutboundClient(deadline_s=5, user_agent="leadfarm-test") as client:
        with pytest.raises(httpx.ConnectError):  # refused: not a timeout
            await client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")


async def test_a_plain_request_goes_straight_to_aiohttp_and_no_cookie_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plain request (no auth, no redirects to follow) is sent on aiohttp's session
    directly, not through httpx's transport layer; a request that follows redirects takes
    httpx's path. Neither keeps the cookies a receiver sets."""
    cookies_seen: list[str | None] = []

    async def hook(request: web.Request) -> web.Response:
        cookies_seen.append(request.headers.get("cookie"))
        response = web.Response(text="ok")
        response.set_cookie("session", "from-the-receiver")
        return response

    async def moved(request: web.Request) -> web.Response:
        cookies_seen.append(request.headers.get("cookie"))
        raise web.HTTPFound("/hook", headers={"set-cookie": "moved=1; Path=/"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/hook", hook)
    app.router.add_get("/moved", moved)
    through_httpx: list[str] = []
    original = _AiohttpTransport.handle_async_request

    async def spy(self: _AiohttpTransport, request: httpx.Request) -> httpx.Response:
        through_httpx.append(request.url.path)
        return await original(self, request)

    monkeypatch.setattr(_AiohttpTransport, "handle_async_request", spy)
    async with serving(app) as port:
        # A host name, not an address: aiohttp's default jar keeps cookies of named hosts only.
        base = f"http://localhost:{port}"
        async with OutboundClient(deadline_s=5, user_agent="t") as client:
            for _ in range(2):
                response = await client.post(f"{base}/hook", content=b"{}")
                assert (response.status_code, response.text) == (200, "ok")
                assert "session=from-the-receiver" in response.headers["set-cookie"]
            assert through_httpx == []
        async with OutboundClient(deadline_s=5, user_agent="t", follow_redirects=True) as client:
            for _ in range(2):
                response = await client.get(f"{base}/moved")
                assert (response.status_code, response.text) == (200, "ok")
            assert through_httpx == ["/moved", "/hook"] * 2
    assert cookies_seen == [None] * 6


async def test_a_cookie_set_through_another_transport_is_not_sent_back() -> None:
    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"})

    async with OutboundClient(
        deadline_s=5, user_agent="t", transport=httpx.MockTransport(answer)
    ) as client:
        for _ in range(2):
            await client.get("http://x.example/")
        assert not client.cookies
    assert sent == [None, None]


async def test_a_plain_request_keeps_the_cap_and_the_errors() -> None:
    """On the direct path too: a declared length over the cap is refused before reading, a
    streamed body past it is cut off, and an address nobody listens on is a ConnectError."""

    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 2000)

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"y" * 500)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/declared", declared)
    app.router.add_get("/streamed", streamed)
    async with (
        serving(app) as port,
        OutboundClient(deadline_s=5, user_agent="t", max_response_bytes=1000) as client,
    ):
        for path in ("/declared", "/streamed"):
            with pytest.raises(ResponseTooLarge, match="larger than 1000 bytes") as caught:
                await client.get(f"http://127.0.0.1:{port}{path}")
            assert caught.value.request.url.path == path
    async with OutboundClient(deadline_s=5, user_agent="t") as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.get(f"http://127.0.0.1:{port}/declared")
        assert refused.value.request.url.port == port
