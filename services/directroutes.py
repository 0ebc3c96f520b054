"""Routes served ahead of FastAPI's routing, for the request every lead makes.

FastAPI (0.163) reaches a route of an included router by matching the request's path at
each level of inclusion, twice a level (once to choose the branch, once inside it), and
then solves the route's dependencies. For a provider's webhook, three levels deep (the
app, ingest's router, its `/ingest/v1` routes), that was about a tenth of the CPU a lead
costs on the embedded runtime (docs/benchmarks.md, "Stop 26").

A `DirectRoute` is a plain Starlette route that the app tries before the services'
routers: its path is matched once and its endpoint is called with what it needs already
bound by the service that built it. The same endpoint function stays declared as an
`APIRoute`: that declaration is what the OpenAPI document shows, and it serves the request
when tracing is on, since FastAPI's telemetry names the server span by its route and adds
spans for its dependencies and endpoint (as `services/outbound.py` takes httpx's own path
for traced requests). Everything around the router (the middlewares: body limits, control
characters, the access log and metrics, security headers; the problem handlers) wraps
both paths alike.

Only routes whose endpoint needs nothing FastAPI would resolve beyond the path's
parameters and the request are made direct: today the providers' webhooks.
"""

from __future__ import annotations

from starlette.routing import Match, Route
from starlette.types import Scope


class DirectRoute(Route):
    """A route the app tries first. It puts itself into the scope as `route`, as FastAPI's
    routes do, so the access log and the metrics name its path template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope
