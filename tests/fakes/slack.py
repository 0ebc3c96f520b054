"""A local fake of Slack's Web API (`chat.postMessage`) and incoming webhooks, for the Slack
connector's tests.

It answers only what Slack documents and checks each request exactly: chat.postMessage at
`/api/chat.postMessage` with `Authorization: Bearer xoxb-…` and a JSON body sent as
`application/json; charset=utf-8` (Slack warns `missing_charset` otherwise) holding
`channel`, a `text` fallback and Block Kit `blocks`, to a channel or member Slack knows; an
incoming webhook at `/services/T…/B…/…` with no token at all, the same content type and
`text`/`blocks`. It answers as Slack does: `{"ok": true, "channel", "ts", "message"}` or
HTTP 200 `{"ok": false, "error": "channel_not_found"}` for the Web API, `ok` or an error
code as text (404 `no_service`) for webhooks. A test can make it fail (`fail_next`: a 503,
a 429 `ratelimited` with Retry-After, an `ok: false` error) and reads what was posted.

Served with the tests' `serve_api` (uvicorn on a free port, in a thread), so its state is
guarded by a lock.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

JSON = "application/json; charset=utf-8"
BLOCK_TYPES = {"section", "context", "header", "divider", "actions"}


@dataclass(frozen=True)
class Posted:
    """A request as the fake got it: where (`channel` for chat.postMessage, the webhook's
    path for a webhook), its headers (lower case) and its JSON body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def channel(self) -> str:
        return str(self.body.get("channel", ""))

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    @property
    def everything(self) -> str:
        """The text and every block's text, as one string (what the reader sees)."""
        return orjson.dumps(self.body).decode()


@dataclass
class Failure:
    status: int
    headers: dict[str, str]
    error: str | None
    """Slack's error code: in an `ok: false` body (Web API) or as the text (webhooks)."""


@dataclass
class FakeSlack:
    token: str
    members: set[str]
    """Member ids (U…) and channel ids (C…) the workspace has."""
    webhooks: set[str] = field(default_factory=set)
    """Paths of live incoming webhooks (/services/T…/B…/…)."""
    posted: list[Posted] = field(default_factory=list)
    refused: list[Posted] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what a test does --------------------------------------------------------------

    def add_webhook(self, team: str = "T0001", bot: str = "B0001") -> str:
        """A new incoming webhook's path (Slack makes its URL when an app is installed)."""
        path = f"/services/{team}/{bot}/{next(self._ts):024d}"
        with self._lock:
            self.webhooks.add(path)
        return path

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        error: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        headers = {"retry-after": retry_after} if retry_after else {}
        with self._lock:
            self.failures += [Failure(status, headers, error)] * times

    def clear_failures(self) -> None:
        with self._lock:
            self.failures.clear()

    def messages(self, to: str | None = None) -> list[Posted]:
        """What Slack accepted, oldest first: chat.postMessage to the channel `to`, or
        posts to the webhook at path `to` (every one when None)."""
        with self._lock:
            return [p for p in self.posted if to is None or to in (p.channel, p.path)]

    # --- the API -------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/chat.postMessage", self._post_message, methods=["POST"]),
                Route("/services/{team}/{bot}/{secret}", self._webhook, methods=["POST"]),
            ]
        )

    async def _read(self, request: Request) -> tuple[Posted | None, Failure | None]:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        seen = Posted(request.url.path, headers, body if isinstance(body, dict) else {})
        with self._lock:
            failure = self.failures.pop(0) if self.failures else None
        if not isinstance(body, dict) or headers.get("content-type") != JSON:
            with self._lock:
                self.refused.append(seen)
            return None, failure
        return seen, failure

    def _accept(self, posted: Posted) -> None:
        with self._lock:
            self.posted.append(posted)

    def _refuse(self, posted: Posted | None) -> None:
        if posted is not None:
            with self._lock:
                self.refused.append(posted)

    async def _post_message(self, request: Request) -> Response:
        posted, failure = await self._read(request)
        if failure is not None:
            self._refuse(posted)
            if failure.status == 200:
                return _not_ok(failure.error or "internal_error", failure.headers)
            if failure.status == 429:
                return _not_ok("ratelimited", failure.headers, status=429)
            return PlainTextResponse("upstream connect error", status_code=failure.status)
        if posted is None:
            return _not_ok("invalid_json")
        authorization = posted.headers.get("authorization")
        if authorization is None:
            self._refuse(posted)
            return _not_ok("not_authed")
        if authorization != f"Bearer {self.token}":
            self._refuse(posted)
            return _not_ok("invalid_auth")
        body = posted.body
        if set(body) - {"channel", "text", "blocks", "unfurl_links", "unfurl_media"}:
            self._refuse(posted)
            return _not_ok("invalid_arguments")
        channel = body.get("channel")
        if not isinstance(channel, str) or not channel:
            self._refuse(posted)
            return _not_ok("channel_not_found")
        with self._lock:
            known = channel in self.members
        if not known:
            self._refuse(posted)
            return _not_ok("channel_not_found")
        if problem := _blocks_problem(body):
            self._refuse(posted)
            return _not_ok(problem)
        self._accept(posted)
        ts = f"1767603600.{next(self._ts):06d}"
        return JSONResponse(
            {
                "ok": True,
                "channel": f"D{channel[1:]}" if channel.startswith("U") else channel,
                "ts": ts,
                "message": {"type": "message", "text": body.get("text"), "ts": ts},
            }
        )

    async def _webhook(self, request: Request) -> Response:
        posted, failure = await self._read(request)
        if failure is not None:
            self._refuse(posted)
            return PlainTextResponse(
                failure.error or "service_unavailable",
                status_code=failure.status,
                headers=failure.headers,
            )
        if posted is None:
            return PlainTextResponse("invalid_payload", status_code=400)
        with self._lock:
            live = posted.path in self.webhooks
        if not live:
            self._refuse(posted)
            return PlainTextResponse("no_service", status_code=404)
        if "authorization" in posted.headers or set(posted.body) - {"text", "blocks"}:
            self._refuse(posted)
            return PlainTextResponse("invalid_payload", status_code=400)
        if problem := _blocks_problem(posted.body):
            self._refuse(posted)
            return PlainTextResponse(problem, status_code=400)
        self._accept(posted)
        return PlainTextResponse("ok")


def _blocks_problem(body: dict[str, Any]) -> str | None:
    """Slack's check of `text` and `blocks`: a text fallback, at most 50 known blocks, each
    section with text or fields (at most 10, each at most 2000 characters)."""
    text, blocks = body.get("text"), body.get("blocks")
    if not isinstance(text, str) or not text.strip():
        return "no_text"
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            return "invalid_blocks"
        if block["type"] == "section":
            fields = block.get("fields")
            if "text" not in block and not fields:
                return "invalid_blocks"
            if fields is not None and (
                len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields)
            ):
                return "invalid_blocks"
    return None


def _not_ok(error: str, headers: dict[str, str] | None = None, status: int = 200) -> Response:
    return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)
