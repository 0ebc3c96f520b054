"""Control characters at the edge.

Control characters (C0 but tab, line feed and carriage return; DEL; C1) are never text
anyone typed: a terminal or a log may act on them, and PostgreSQL cannot store a NUL at all
(it fails the statement, which a client would see as a 500). Each edge decides what to do
with them: a URL holding one is refused here for every service (400 naming the parameter);
request bodies are checked by their models (ingest's JSON API refuses them naming the field,
its provider deliveries drop them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_character(value: object) -> str | None:
    """The first control character in a string, or in the keys and values of a list or
    mapping (nested), as "U+0000"; None when there is none."""
    if isinstance(value, str):
        found = CONTROL.search(value)
        return f"U+{ord(found.group()):04X}" if found else None
    if isinstance(value, Mapping):
        items: Iterable[object] = (x for pair in value.items() for x in pair)
    elif isinstance(value, list | tuple):
        items = value
    else:
        return None
    return next((c for c in map(control_character, items) if c), None)


def refuse_control_characters(value: object) -> object:
    """A pydantic field validator's body: the value, or a ValueError naming the character
    (pydantic names the field)."""
    found = control_character(value)
    if found:
        raise ValueError(
            f"contains the control character {found}; send text without control characters "
            "(tabs and line breaks are fine)"
        )
    return value


def without_controls(value: str) -> str:
    """The string without its control characters (tabs and line breaks stay)."""
    return CONTROL.sub("", value)


class ControlCharacterMiddleware:
    """Refuse (400) a request whose path or query holds a control character, before any
    route can put it into SQL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = _in_url(scope)
            if where is not None:
                await _refuse(scope, send, *where)
                return
        await self.app(scope, receive, send)


def _in_url(scope: Scope) -> tuple[str, str] | None:
    found = control_character(scope["path"])
    if found:
        return "path", found
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        found = control_character(value) or control_character(name)
        if found:
            return f"query parameter {without_controls(name)!r}", found
    return None


async def _refuse(scope: Scope, send: Send, where: str, found: str) -> None:
    body = orjson.dumps(
        {
            "type": "about:blank",
            "title": "Bad request",
            "status": 400,
            "detail": f"The {where} of the URL contains the control character {found}; remove it.",
            "instance": scope.get("raw_path", b"").decode("latin-1"),
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
