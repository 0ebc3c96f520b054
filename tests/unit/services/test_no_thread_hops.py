"""Nothing on a request's path hops to a worker thread: FastAPI runs a plain `def` route or
dependency in the thread pool, a handoff that cost every ingest webhook about 0.4 ms of CPU
(1.2 ms per webhook instead of 0.8 in `leadfarm bench`'s ingest-alone figure) when the
services' route dependencies were written as plain functions. Every route and every
dependency under it is a coroutine."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from services.app import create_app
from tests.backends import EmbeddedBackend


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _is_coroutine(call: Any) -> bool:
    """A coroutine function, an async generator (a dependency with clean-up), or an object
    whose `__call__` is one."""
    method = getattr(call, "__call__", None)  # noqa: B004 - an instance with an async __call__
    return any(
        inspect.iscoroutinefunction(c) or inspect.isasyncgenfunction(c) for c in (call, method)
    )


def _routes(app: FastAPI) -> Iterator[tuple[str, Any, Dependant]]:
    """Each route as requests meet it: (path, endpoint, its dependencies, those of the
    routers it is included through among them)."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield route.path, route.endpoint, route.dependant
        contexts = getattr(route, "effective_route_contexts", None)  # an included router
        if contexts is not None:
            for context in contexts():
                if context.dependant is not None:
                    yield context.path, context.endpoint, context.dependant


async def test_every_route_and_dependency_is_a_coroutine(embedded: EmbeddedBackend) -> None:
    app = create_app(embedded.runtime)
    routes = list(_routes(app))
    assert len(routes) > 100  # every service's routes were seen
    threaded = sorted(
        {
            f"{path}: {getattr(call, '__qualname__', repr(call))}"
            for path, endpoint, dependant in routes
            for call in [endpoint, *_calls(dependant)]
            if call is not None and not _is_coroutine(call)
        }
    )
    assert not threaded, sorted({t.split(": ", 1)[1] for t in threaded})
