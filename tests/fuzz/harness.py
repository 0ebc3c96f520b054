"""A running embedded Leadfarm driven from synchronous code (schemathesis and hypothesis's
state machines are synchronous).

`starlette_testclient.TestClient` (the requests-based client schemathesis ships with) is
opened once as a context manager: it starts a blocking portal, a thread with its own event
loop, and runs the app's lifespan there, which starts the embedded runtime (consumers,
timers, outbox) in that loop. Every request then runs in the same loop, and so does anything
else async the tests need (`Live.run`, e.g. firing timers). The runtime's background tasks
keep running between calls, as in production. Schemathesis gets the client as its
`requests` session, so a case is sent with `case.call(session=live.client, ...)`.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests

from services.app import create_app
from services.clock import Clock
from services.runtime import Runtime, embedded_runtime
from tests.backends import ADMIN, leadfarm_test_settings

# Warnings that schemathesis 3 and the test client it ships with raise when imported (their
# use of deprecated jsonschema and anyio names); the test modules filter the same ones.
IMPORT_WARNINGS = (
    r"jsonschema\.(exceptions\.RefResolutionError|RefResolver) is deprecated",
    r"The anyio\.abc\.BlockingPortal alias is deprecated",
)
with warnings.catch_warnings():
    for message in IMPORT_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=DeprecationWarning)
    # schemathesis imports some modules lazily: these are the ones the tests reach.
    import schemathesis.checks
    import schemathesis.specs.openapi.schemas  # noqa: F401 - imported here, under the filter
    from starlette_testclient import TestClient

BASE_URL = "http://lf"
PROBLEM_JSON = "application/problem+json"

T = TypeVar("T")


@dataclass(repr=False)
class Live:
    runtime: Runtime
    client: TestClient

    def __repr__(self) -> str:  # shown in every failing example: keep it short
        return f"<Live {self.runtime.mode} Leadfarm>"

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a coroutine function in the runtime's event loop and wait for its result."""
        assert self.client.portal is not None, "the app is not running"
        result: T = self.client.portal.call(fn, *args)
        return result

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        return self.client.request(
            method, BASE_URL + path, headers=ADMIN if headers is None else headers, **kwargs
        )


@contextmanager
def unlimited_api_rate() -> Iterator[None]:
    """The fuzzers send far more requests per second with one key than a client should: the
    per-key rate limit (read from the environment when the app is created) is lifted."""
    names = ("LEADFARM_API_RATE_LIMIT_PER_SECOND", "LEADFARM_API_RATE_LIMIT_BURST")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "1000000"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def live_app(data_dir: Path, clock: Clock | None = None, **overrides: Any) -> Iterator[Live]:
    """All five services on the embedded runtime (SQLite in `data_dir`), started."""
    settings = leadfarm_test_settings(data_dir=data_dir, **overrides)
    runtime = embedded_runtime(settings, clock=clock)
    with unlimited_api_rate():
        app = create_app(runtime)
    # A server error comes back as the 500 response the app sends, not as an exception.
    client = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    try:
        with client:
            yield Live(runtime, client)
    finally:
        # The client leaves its lifespan streams open; closed here, they do not warn
        # (ResourceWarning, an error under filterwarnings=error) when collected.
        for stapled in (
            getattr(client, "stream_send", None),
            getattr(client, "stream_receive", None),
        ):
            if stapled is not None:
                stapled.send_stream.close()
                stapled.receive_stream.close()


def as_utf8(response: requests.Response) -> requests.Response:
    """JSON is UTF-8 (RFC 8259 section 8.1) and its media types have no charset parameter:
    without this, `requests` guesses an encoding from the bytes and may garble the text."""
    if response.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
        response.encoding = "utf-8"
    return response


def problem_errors(response: requests.Response) -> list[str]:
    """What is wrong with an error response as RFC 9457 problem details ([] if nothing)."""
    if response.status_code < 400:
        return []
    wrong = []
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    if media_type != PROBLEM_JSON:
        wrong.append(f"content type {media_type!r}, not {PROBLEM_JSON}")
        return wrong
    try:
        body = response.json()
    except ValueError:
        return ["the body is not JSON"]
    if not isinstance(body, dict):
        return ["the body is not an object"]
    for member, kind in (("type", str), ("title", str), ("status", int), ("detail", str)):
        if not isinstance(body.get(member), kind):
            wrong.append(f"{member!r} missing or not {kind.__name__}")
    if body.get("status") != response.status_code:
        wrong.append(f"status {body.get('status')!r} differs from {response.status_code}")
    return wrong


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def recursive_components(document: dict[str, Any]) -> set[str]:
    """The component schemas that reach themselves through `$ref`s."""
    components = document.get("components", {}).get("schemas", {})

    def reachable(name: str) -> set[str]:
        seen: set[str] = set()
        todo = [name]
        while todo:
            for ref in _refs(components.get(todo.pop(), {})):
                if ref not in seen:
                    seen.add(ref)
                    todo.append(ref)
        return seen

    return {name for name in components if name in reachable(name)}


def without_recursion(document: dict[str, Any], depth: int = 2) -> dict[str, Any]:
    """A copy of `document` in which each schema that contains itself directly is unrolled
    `depth` levels (`Name`, `Name__1`, ... `Name__<depth>`), the last level's references to
    itself replaced by any object."""
    unrolled = copy.deepcopy(document)
    components = unrolled["components"]["schemas"]
    for name in recursive_components(unrolled):
        original = components[name]
        for level in range(depth + 1):
            target = f"#/components/schemas/{name}__{level + 1}" if level < depth else None
            components[name if level == 0 else f"{name}__{level}"] = _repointed(
                copy.deepcopy(original), f"#/components/schemas/{name}", target
            )
    return unrolled


def _repointed(node: Any, ref: str, target: str | None) -> Any:
    if isinstance(node, dict):
        if node.get("$ref") == ref:
            return {"$ref": target} if target else {"type": "object"}
        return {key: _repointed(value, ref, target) for key, value in node.items()}
    if isinstance(node, list):
        return [_repointed(value, ref, target) for value in node]
    return node
