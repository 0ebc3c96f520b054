"""The providers' webhook is served ahead of FastAPI's routing (services/directroutes.py):
the same endpoint, its service's state bound when the app is made, and the same
middlewares, problems and metrics around it; FastAPI's own route serves it when traced."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from ingest.dependencies import bound
from services import tracing
from services.app import create_app
from services.directroutes import DirectRoute
from tests.scenarios.ingest import IngestHarness

FORM = "application/x-www-form-urlencoded"
TEMPLATE = "/ingest/v1/webhooks/{name}"


def requests_counted(status: str) -> float:
    labels = {"method": "POST", "route": TEMPLATE, "status": status}
    return REGISTRY.get_sample_value("leadfarm_http_requests_total", labels) or 0.0


def unsolvable() -> None:
    raise AssertionError("FastAPI solved the webhook's dependencies")


@pytest.fixture
async def direct_only(ingest: IngestHarness) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on the same runtime in which FastAPI cannot hand a route ingest's
    state: only a request served by the direct route gets through."""
    app = create_app(ingest.backend.runtime)
    app.dependency_overrides[bound] = unsolvable
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://lf"
    ) as client:
        yield client


async def test_a_webhook_is_served_without_fastapis_routing(
    ingest: IngestHarness, direct_only: httpx.AsyncClient
) -> None:
    await ingest.put_source("site", "form")
    before = requests_counted("200")
    posted = await direct_only.post(
        "/ingest/v1/webhooks/site",
        content=b"email=ana%40acme.example",
        headers={"content-type": FORM},
    )
    assert posted.status_code == 200, posted.text
    [lead] = await ingest.leads_by_email("ana@acme.example")
    assert lead["lead"]["provider"] == "form"
    # The middlewares around the router see it as any route: counted by its template.
    assert requests_counted("200") == before + 1
    assert posted.headers["x-content-type-options"] == "nosniff"
    # The route's refusals are the same problems.
    unknown = await direct_only.post(
        "/ingest/v1/webhooks/nobody", content=b"email=x", headers={"content-type": FORM}
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "nobody" in unknown.json()["detail"]
    wrong_type = await direct_only.post(
        "/ingest/v1/webhooks/site", content=b"<x/>", headers={"content-type": "text/xml"}
    )
    assert wrong_type.status_code == 415
    assert "text/xml" in wrong_type.json()["detail"]
    # Another method on the same path is still FastAPI's route (the provider's
    # verification request), which here cannot be handed ingest's state.
    assert (await direct_only.get("/ingest/v1/webhooks/site")).status_code == 500


async def test_traced_the_webhook_is_fastapis_route(ingest: IngestHarness) -> None:
    """Traced, FastAPI's telemetry gives the request spans for its dependencies and
    endpoint: the webhook takes FastAPI's route, declared on the same endpoint."""
    assert any(isinstance(r, DirectRoute) for r in create_app(ingest.backend.runtime).routes)
    exporter = InMemorySpanExporter()
    assert tracing.configure("leadfarm", processors=[SimpleSpanProcessor(exporter)])
    try:
        traced = create_app(ingest.backend.runtime)
        assert not any(isinstance(r, DirectRoute) for r in traced.routes)
        await ingest.put_source("site", "form")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=traced), base_url="http://lf"
        ) as client:
            posted = await client.post(
                "/ingest/v1/webhooks/site",
                content=b"email=bo%40acme.example",
                headers={"content-type": FORM},
            )
        assert posted.status_code == 200, posted.text
        names = {s.name for s in exporter.get_finished_spans()}
        assert {f"POST {TEMPLATE}", "fastapi.dependencies", "fastapi.endpoint"} <= names
    finally:
        tracing.shutdown()
