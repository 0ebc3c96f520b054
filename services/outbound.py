"""Outbound HTTP: the one client for every call Leadfarm makes to a server it does not run
(reps' webhooks, providers' APIs, nurture's email webhook).

httpx's timeout is per operation: a read timeout of 10 s is met by a server that sends one
byte every 9 s, so a receiver that drips its answer holds the caller for as long as it
likes, and one that answers with gigabytes fills its memory. `OutboundClient` bounds both:

- a **total deadline** per request: `asyncio.timeout` around the whole exchange (connect,
  send, headers and the body, redirects included), raising `DeadlineExceeded`, an
  `httpx.TimeoutException`, so callers' existing timeout handling applies;
- a **response size cap**: the body is read in chunks, decoded, and reading stops past
  `max_response_bytes` (`ResponseTooLarge`, an `httpx.RequestError`). It asks for
  `Accept-Encoding: identity`; a body compressed anyway is counted after decoding.

Every response comes back fully read, so `.content`, `.text` and `.json()` work as usual.

The connections are aiohttp's (`httpx_aiohttp.AiohttpTransport`, by an httpx maintainer):
the API stays httpx's (and tests still hand in an `httpx.MockTransport`), while a request
costs about a third of the CPU of httpx's own connection layer. Outbound webhooks are on
the measured path of every lead (docs/benchmarks.md has the profile: httpcore's pool and
streams were about a fifth of the embedded runtime's CPU under load).

A plain request (no auth, no redirects to follow, no response hooks, tracing off: every
webhook, and most API calls) goes from the built `httpx.Request` straight to aiohttp's
session (`_AiohttpTransport.exchange`), past httpx's auth, redirect and cookie layers and
the transport's stream wrappers: 288 -> 149 us of CPU per request against a local
receiver, with the URL parsed once (docs/benchmarks.md, "Stop 20"). Anything else takes
httpx's own path, with the same deadline, cap and errors.

No outbound client keeps cookies: a receiver's `Set-Cookie` is neither stored nor sent
back on a later call, by httpx's jar or by aiohttp's session. Leadfarm's outbound calls
authenticate with signatures and tokens, and a jar shared by every receiver of a process is
state nobody asked for (and parsing each answer's cookies was a seventh of a webhook's CPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from http.cookiejar import CookieJar
from urllib.request import Request as UrllibRequest

import aiohttp
import httpx
from httpx._client import UseClientDefault
from httpx._types import AuthTypes
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

from services import tracing

MAX_RESPONSE_BYTES = 1024 * 1024
"""What any receiver may answer: reps' tools and email providers answer a status and a few
bytes; a provider's lead is a few kilobytes."""


class DeadlineExceeded(httpx.TimeoutException):
    """No complete answer within the request's total deadline."""


class ResponseTooLarge(httpx.RequestError):
    """The answer's body is larger than the client accepts."""


@contextlib.contextmanager
def _aiohttp_errors(request: httpx.Request) -> Iterator[None]:
    """aiohttp's errors as httpx's, naming `request`. httpx_aiohttp maps every aiohttp
    connection error to `httpx.ConnectTimeout`; a refused or unreachable host is an
    `httpx.ConnectError`, as with httpx's own transport (the reason recorded on a delivery
    must not say "timeout" for "refused")."""
    try:
        with map_aiohttp_exceptions():
            yield
    except httpx.ConnectTimeout as exc:
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientConnectorError) and not isinstance(
            cause, aiohttp.ServerTimeoutError
        ):
            raise httpx.ConnectError(str(cause), request=request) from cause
        exc.request = request
        raise
    except httpx.RequestError as exc:
        exc.request = request
        raise


class _AiohttpTransport(AiohttpTransport):
    """The default transport, and the session a plain request is sent on directly."""

    def get_client(self) -> aiohttp.ClientSession:
        """httpx_aiohttp's session, but with a jar that keeps nothing (aiohttp's default
        jar keeps a named host's cookies and sends them back)."""
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                keepalive_timeout=self.limits.keepalive_expiry,
                ssl=self.ssl_context,
                limit=self.limits.max_connections or 0,  # aiohttp's 0: no limit
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _aiohttp_errors(request):
            return await super().handle_async_request(request)

    async def exchange(self, request: httpx.Request, cap: int) -> httpx.Response:
        """Send `request` (its body in hand) on aiohttp's session and read the whole
        answer, decoded, up to `cap` bytes: what `OutboundClient.send` returns."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        with _aiohttp_errors(request):
            async with self.client.request(
                request.method,
                str(request.url),
                headers=headers,
                data=request.content or None,
                allow_redirects=False,
                compress=False,
            ) as answer:
                body = await _capped(
                    answer.headers.get("content-length", ""),
                    answer.content.iter_chunked(16384),
                    cap,
                    request,
                )
        return httpx.Response(
            answer.status,
            headers=[(k, v) for k, v in answer.raw_headers if k.lower() not in _DECODED],
            content=body,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )


_DECODED = (b"content-encoding", b"content-length", b"transfer-encoding")
"""Headers that describe the body as it travelled, not as it is returned (whole, decoded)."""


async def _capped(
    declared: str, chunks: AsyncIterator[bytes], cap: int, request: httpx.Request
) -> bytes:
    """The answer's body, decoded, read chunk by chunk: refused before reading when its
    `declared` length is over `cap`, and cut off once it passes `cap`."""
    if declared.isascii() and declared.isdigit() and int(declared) > cap:
        raise ResponseTooLarge(_too_large(cap), request=request)
    read: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise ResponseTooLarge(_too_large(cap), request=request)
        read.append(chunk)
    return b"".join(read)


def _too_large(cap: int) -> str:
    return f"the answer is larger than {cap} bytes; not read further"


@functools.lru_cache(maxsize=1024)
def _parsed(url: str) -> httpx.URL:
    return httpx.URL(url)


class _NoCookies(CookieJar):
    """A jar that keeps nothing (see the module's docstring)."""

    def extract_cookies(self, response: object, request: UrllibRequest) -> None:
        return None


class OutboundClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` whose every request has a total deadline and a body cap."""

    def __init__(
        self,
        *,
        deadline_s: float,
        user_agent: str,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        follow_redirects: bool = False,
        on_request: Sequence[Callable[[httpx.Request], Awaitable[None]]] = (),
    ) -> None:
        default = _AiohttpTransport() if transport is None else None
        super().__init__(
            timeout=httpx.Timeout(deadline_s),
            headers={"user-agent": user_agent, "accept-encoding": "identity"},
            follow_redirects=follow_redirects,
            transport=transport or default,
            event_hooks={"request": list(on_request)},
            cookies=_NoCookies(),
        )
        self.deadline_s = deadline_s
        self.max_response_bytes = max_response_bytes
        self._direct = None if tracing.enabled else default
        """The transport plain requests are sent on directly (None: always httpx's path;
        traced requests are, since the instrumentation wraps httpx's)."""
        tracing.instrument_http_client(self)

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: AuthTypes | UseClientDefault | None = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        direct = self._direct_transport(request, auth, follow_redirects)
        try:
            async with asyncio.timeout(self.deadline_s):
                if direct is not None:
                    return await self._send_direct(direct, request)
                response = await super().send(
                    request, stream=True, auth=auth, follow_redirects=follow_redirects
                )
                try:
                    body = await self._read(response, request)
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            raise DeadlineExceeded(
                f"no complete answer within {self.deadline_s:g} s", request=request
            ) from exc
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=body,
            request=request,
            extensions={"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
            history=response.history,
        )

    def _merge_url(self, url: httpx.URL | str) -> httpx.URL:
        """httpx parses the URL of every request: half of building one. A receiver's URL
        is sent to again and again, and `httpx.URL` is immutable, so each is parsed once."""
        return super()._merge_url(_parsed(url) if isinstance(url, str) else url)

    def _direct_transport(
        self,
        request: httpx.Request,
        auth: AuthTypes | UseClientDefault | None,
        follow_redirects: bool | UseClientDefault,
    ) -> _AiohttpTransport | None:
        """The transport to send `request` on directly, if it is a plain request: no auth
        (the client's, the call's or the URL's), no redirect to follow, no response hook,
        a body in hand, and the default transport for its URL (not a proxy's)."""
        direct = self._direct
        if (
            direct is None
            or not (auth is httpx.USE_CLIENT_DEFAULT or auth is None)
            or self.auth is not None
            or request.url.userinfo
            or (
                self.follow_redirects
                if isinstance(follow_redirects, UseClientDefault)
                else follow_redirects
            )
            or self.event_hooks["response"]
            or not isinstance(request.stream, httpx.ByteStream)
            or self._transport_for_url(request.url) is not direct
        ):
            return None
        return direct

    async def _send_direct(
        self, transport: _AiohttpTransport, request: httpx.Request
    ) -> httpx.Response:
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        for hook in self.event_hooks["request"]:
            await hook(request)
        return await transport.exchange(request, self.max_response_bytes)

    async def _read(self, response: httpx.Response, request: httpx.Request) -> bytes:
        return await _capped(
            response.headers.get("content-length", ""),
            response.aiter_bytes(),
            self.max_response_bytes,
            request,
        )
