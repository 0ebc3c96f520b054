"""The rep's tool: a small HTTP receiver of the router's Standard Webhooks deliveries.

It verifies each delivery's signature (`v1,` base64 HMAC-SHA256 of `id.timestamp.body`
keyed with the base64 part of the `whsec_` secret), answers 204 and records when each
`lead.assigned` arrived. Retries carry the same `webhook-id` and are counted once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import socket
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn

ASSIGNED = "leadfarm.lead.assigned.v1"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Assignment:
    event_id: str
    lead_id: str
    rep_id: str
    email: str | None
    arrived: float  # time.monotonic()


@dataclass
class Receiver:
    secret: str = ""
    assignments: list[Assignment] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    redeliveries: int = 0
    bad_signatures: int = 0
    other_events: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        msg_id = headers.get("webhook-id", "")
        stamp = headers.get("webhook-timestamp", "")
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        expected = "v1," + base64.b64encode(digest).decode()
        given = headers.get("webhook-signature", "").split()
        return any(hmac.compare_digest(expected, g) for g in given)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        arrived = time.monotonic()
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status = 204
        if not self.verify(headers, body):
            self.bad_signatures += 1
            status = 401
        else:
            self._record(headers["webhook-id"], body, arrived)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def _record(self, event_id: str, body: bytes, arrived: float) -> None:
        if event_id in self.seen_ids:
            self.redeliveries += 1
            return
        self.seen_ids.add(event_id)
        payload = orjson.loads(body)
        if payload.get("type") != ASSIGNED:
            self.other_events += 1
            return
        data = payload.get("data") or {}
        lead = data.get("lead") or {}
        email = lead.get("email")
        self.assignments.append(
            Assignment(
                event_id=event_id,
                lead_id=str(data.get("lead_id") or payload.get("subject")),
                rep_id=str(data.get("rep_id")),
                email=email.lower() if isinstance(email, str) else None,
                arrived=arrived,
            )
        )
        self.arrived.set()

    async def start(self) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        config = uvicorn.Config(
            self,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return f"http://127.0.0.1:{self.port}/hooks"

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=5)
