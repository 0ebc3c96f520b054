"""Every route of every service's OpenAPI document enforces its scope: called with no key,
a wrong key, and a key of each scope, it answers 401 without a valid key, 403 to a scope
that does not cover it, and neither to one that does. A route's scope is read from its
`services.auth.require` dependency; a route with none must be on the public allowlist, so a
new route without a declared scope fails here. Then: a rep cannot reach another rep's lead."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from services.auth import IMPLIED, SCOPES, SCOPES_ATTRIBUTE, Scope
from tests.backends import ADMIN, Backend, EmbeddedBackend
from tests.integration.test_flow import SALES_READY, add_rep

# Routes open without a key, each with why.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/ingest/v1/webhooks/{name}"): "provider handshake, checked by the provider",
    ("POST", "/ingest/v1/webhooks/{name}"): "provider webhook, authenticated by its signature",
    ("POST", "/router/v1/connectors/{connector_id}/webhooks"): "a CRM's webhook, by its signature",
    ("GET", "/nurture/v1/r/{token}"): "tracked link in an email, a signed token",
    ("GET", "/nurture/v1/unsubscribe"): "unsubscribe page, a signed token, changes nothing",
    ("POST", "/nurture/v1/unsubscribe"): "one-click unsubscribe (RFC 8058), a signed token",
}
# Not in the OpenAPI document and public: /metrics (scraped inside the cluster), the
# dashboard's and the console's pages and assets (they hold no data; the pages ask for a
# manager key), and `/`, which only redirects to the dashboard (or to /docs).
UNDOCUMENTED_PUBLIC = {
    "/",
    "/metrics",
    "/audit/v1/dashboard",
    "/audit/v1/dashboard/app.js",
    "/audit/v1/dashboard/app.css",
    "/audit/v1/dashboard/format.js",
    "/audit/v1/dashboard/signin.js",
    "/audit/v1/dashboard/chart.umd.min.js",
    "/console",
    "/console/console.js",
    "/console/conditions.js",
    "/console/backtest.js",
    "/console/console.css",
    "/console/diff.min.js",
    "/console/signin.js",
}
# The API docs pages and their start-up script (services/apidocs.py; assets are a mount).
API_DOCS_PAGES = {"/openapi.json", "/docs", "/docs/swagger-init.js", "/redoc"}


def declared_scopes(dependant: Dependant) -> tuple[Scope, ...] | None:
    for dep in dependant.dependencies:
        scopes = getattr(dep.call, SCOPES_ATTRIBUTE, None)
        if scopes is not None:
            return tuple(scopes)
        found = declared_scopes(dep)
        if found is not None:
            return found
    return None


def all_routes(routes: Sequence[Any]) -> Iterator[Any]:
    """The app's routes, through included routers (FastAPI keeps them nested), each as
    FastAPI serves it: with the prefixes of the routers it is included in (the router's
    backtests and connectors are included in its /router/v1 router)."""
    for route in routes:
        effective = getattr(route, "effective_candidates", None)
        if effective is not None:
            yield from all_routes(effective())
        else:
            yield route


def documented_routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    """(method, path, route) for every operation of the app's OpenAPI document."""
    by_key = {
        (method, route.path): route
        for route in all_routes(app.routes)
        if isinstance(getattr(route, "original_route", route), APIRoute)
        for method in route.methods or ()
    }
    out = []
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            out.append((method.upper(), path, by_key[(method.upper(), path)]))
    return out


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "zz1", path)


async def make_keys(http: httpx.AsyncClient) -> dict[Scope, dict[str, str]]:
    keys: dict[Scope, dict[str, str]] = {}
    for scope in SCOPES:
        body: dict[str, Any] = {"name": f"walk {scope}", "scope": scope}
        if scope == "rep":
            body["rep_id"] = "ana"
        created = await http.post("/admin/v1/keys", json=body, headers=ADMIN)
        assert created.status_code == 201, created.text
        keys[scope] = {"Authorization": f"Bearer {created.json()['key']}"}
    return keys


async def test_every_route_enforces_its_declared_scope(embedded: EmbeddedBackend) -> None:
    http = embedded.client("ingest")
    app = http._transport.app  # type: ignore[attr-defined]
    assert isinstance(app, FastAPI)
    keys = await make_keys(http)
    routes = documented_routes(app)
    services = {path.split("/")[1] for _, path, _ in routes}
    assert {"ingest", "qualifier", "router", "nurture", "audit", "admin"} <= services

    # The committed OpenAPI document (every service's, merged) names no route we do not walk.
    committed = json.loads(Path("contracts/openapi.json").read_text())["paths"]
    walked = {(m, p) for m, p, _ in routes}
    assert {(m.upper(), p) for p, ops in committed.items() for m in ops} <= walked

    undeclared, wrong = [], []
    for method, path, route in routes:
        scopes = declared_scopes(route.dependant)
        if scopes is None:
            if (method, path) not in PUBLIC:
                undeclared.append(f"{method} {path}")
            continue
        assert (method, path) not in PUBLIC, f"{method} {path} is public but needs a key"
        url = concrete(path)
        for label, headers in (
            ("no key", {}),
            ("a wrong key", {"Authorization": "Bearer lf_nope_not-a-real-secret"}),
            ("a malformed key", {"Authorization": "Bearer not-even-a-key"}),
        ):
            status = (await http.request(method, url, headers=headers)).status_code
            if status != 401:
                wrong.append(f"{method} {path} with {label}: {status}, expected 401")
        for scope, headers in keys.items():
            allowed = any(s in IMPLIED[scope] for s in scopes)
            response = await http.request(method, url, headers=headers)
            if allowed and response.status_code in (401, 403):
                wrong.append(f"{method} {path} refused scope {scope}: {response.text}")
            if not allowed and response.status_code != 403:
                wrong.append(f"{method} {path} with scope {scope}: {response.status_code}")
    assert not undeclared, f"routes with no declared scope and not public: {undeclared}"
    assert not wrong, "\n".join(wrong)

    for method, path in PUBLIC:
        response = await http.request(method, concrete(path))
        assert response.status_code < 500, (method, path, response.text)
    undocumented = {
        getattr(r, "path", "")
        for r in all_routes(app.routes)
        if not getattr(r, "include_in_schema", True)
    } - API_DOCS_PAGES
    assert undocumented == UNDOCUMENTED_PUBLIC


# Every route a scope below manager reaches, as docs/security.md ("Keys and scopes") says:
# a scope broader than that (an ingest key recycling leads through nurture) fails here.
NARROW_SCOPES: dict[Scope, set[tuple[str, str]]] = {
    "ingest": {("POST", "/ingest/v1/leads"), ("POST", "/ingest/v1/leads:batch")},
    "engagement": {("POST", "/nurture/v1/engagements"), ("POST", "/nurture/v1/bounces")},
    "rep": {
        ("POST", "/ingest/v1/leads"),
        ("POST", "/ingest/v1/leads:batch"),
        ("GET", "/router/v1/reps/{rep_id}"),
        ("GET", "/router/v1/reps/{rep_id}/leads"),
        ("GET", "/router/v1/reps/{rep_id}/compliance"),
        ("GET", "/router/v1/leads/{lead_id}/assignment"),
        ("POST", "/router/v1/leads/{lead_id}/activities"),
        ("POST", "/router/v1/leads/{lead_id}/accept"),
        ("POST", "/router/v1/leads/{lead_id}/reject"),
        ("POST", "/router/v1/leads/{lead_id}/opportunities"),
        ("GET", "/router/v1/leads/{lead_id}/opportunities"),
        ("POST", "/router/v1/opportunities/{opportunity_id}/close"),
        ("POST", "/audit/v1/forecast/leads/{lead_id}/removal-requests"),
        ("POST", "/audit/v1/forecast/removal-requests/{request_id}/approve"),
        ("POST", "/audit/v1/forecast/removal-requests/{request_id}/deny"),
    },
}


def test_machine_and_rep_scopes_reach_only_their_documented_routes() -> None:
    from services.app import create_app
    from services.runtime import embedded_runtime
    from services.settings import Settings

    unused = "sqlite+aiosqlite:////nonexistent/leadfarm-scopes.db"  # never connected to
    app = create_app(embedded_runtime(Settings(database_url=unused)))
    for scope, documented in NARROW_SCOPES.items():
        reached = {
            (method, path)
            for method, path, route in documented_routes(app)
            if any(s in IMPLIED[scope] for s in declared_scopes(route.dependant) or ())
        }
        assert reached == documented, (scope, reached ^ documented)


CALL = {"channel": "call", "outcome": "connected"}


async def test_a_rep_cannot_reach_another_reps_lead(backend: Backend) -> None:
    await add_rep(backend, "ana")
    lead_id = await backend.post_lead(**SALES_READY)
    await backend.timeline_with(lead_id, "leadfarm.lead.assigned.v1")
    admin = backend.client("ingest")
    keys = {}
    for rep in ("ana", "bob"):
        created = await admin.post(
            "/admin/v1/keys", json={"name": rep, "scope": "rep", "rep_id": rep}, headers=ADMIN
        )
        keys[rep] = {"Authorization": f"Bearer {created.json()['key']}"}
    router, audit = backend.client("router"), backend.client("audit")

    own = await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=keys["ana"])
    assert own.status_code == 200, own.text
    assert own.json()["rep_id"] == "ana"
    for method, path, body in (
        ("GET", f"/router/v1/leads/{lead_id}/assignment", None),
        ("POST", f"/router/v1/leads/{lead_id}/accept", None),
        (
            "POST",
            f"/router/v1/leads/{lead_id}/activities",
            {"channel": "call", "outcome": "connected"},
        ),
        ("GET", "/router/v1/reps/ana/leads", None),
        ("GET", "/router/v1/reps/ana", None),
    ):
        response = await router.request(method, path, json=body, headers=keys["bob"])
        assert response.status_code in (403, 404), (method, path, response.text)
        assert "Dana" not in response.text
    mine = await router.get("/router/v1/reps/bob/leads", headers=keys["bob"])
    assert lead_id not in mine.text
    # audit's lead routes are for managers: a rep, even the lead's own, is refused.
    for rep in ("ana", "bob"):
        for path in (f"/audit/v1/leads/{lead_id}", f"/audit/v1/leads/{lead_id}/timeline"):
            assert (await audit.get(path, headers=keys[rep])).status_code == 403
    # ingest's read side too.
    assert (await admin.get(f"/ingest/v1/leads/{lead_id}", headers=keys["bob"])).status_code == 403
