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
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import httpx
from httpx._client import UseClientDefault
from httpx._types import AuthTypes
from httpx_aiohttp import AiohttpTransport

from services import tracing

MAX_RESPONSE_BYTES = 1024 * 1024
"""What any receiver may answer: reps' tools and email providers answer a status and a few
bytes; a provider's lead is a few kilobytes."""


class DeadlineExceeded(httpx.TimeoutException):
    """No complete answer within the request's total deadline."""


class ResponseTooLarge(httpx.RequestError):
    """The answer's body is larger than the client accepts."""


class _AiohttpTransport(AiohttpTransport):
    """httpx_aiohttp maps every aiohttp connection error to `httpx.ConnectTimeout`; a
    refused or unreachable host is an `httpx.ConnectError`, as with httpx's own transport
    (the reason recorded on a delivery must not say "timeout" for "refused")."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectorError) and not isinstance(
                cause, aiohttp.ServerTimeoutError
            ):
                raise httpx.ConnectError(str(cause), request=request) from cause
            raise


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
        super().__init__(
            timeout=httpx.Timeout(deadline_s),
            headers={"user-agent": user_agent, "accept-encoding": "identity"},
            follow_redirects=follow_redirects,
            transport=transport if transport is not None else _AiohttpTransport(),
            event_hooks={"request": list(on_request)},
        )
        self.deadline_s = deadline_s
        self.max_response_bytes = max_response_bytes
        tracing.instrument_http_client(self)

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: AuthTypes | UseClientDefault | None = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        try:
            async with asyncio.timeout(self.deadline_s):
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

    async def _read(self, response: httpx.Response, request: httpx.Request) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise ResponseTooLarge(self._too_large(), request=request)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise ResponseTooLarge(self._too_large(), request=request)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> str:
        return f"the answer is larger than {self.max_response_bytes} bytes; not read further"
