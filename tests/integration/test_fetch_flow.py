"""Leads a webhook only names (Meta Lead Ads) are fetched in the background on both
runtimes: the lease on PostgreSQL (FOR UPDATE SKIP LOCKED) and on SQLite, retries, and
the lead's way on through the qualifier."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from ingest.fetcher import FetchWorker
from tests.backends import ADMIN, Backend, eventually

APP_SECRET = "meta-app-secret"


def graph_api(leads: dict[str, list[dict[str, Any]]], failures: list[str]) -> FastAPI:
    """A Graph API that knows `leads` and fails once for each id listed in `failures`."""
    app = FastAPI()

    @app.get("/{leadgen_id}")
    async def lead(leadgen_id: str) -> Any:
        if leadgen_id in failures:
            failures.remove(leadgen_id)
            raise HTTPException(500, "temporarily unavailable")
        if leadgen_id not in leads:
            error = {
                "message": f"Object with ID '{leadgen_id}' does not exist",
                "type": "GraphMethodException",
                "code": 100,
                "error_subcode": 33,
            }
            return JSONResponse({"error": error}, status_code=400)
        return {
            "id": leadgen_id,
            "created_time": "2026-03-02T09:30:00+0000",
            "field_data": leads[leadgen_id],
        }

    return app


def webhook(*leadgen_ids: str) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "page-1",
                    "time": 1,
                    "changes": [
                        {
                            "field": "leadgen",
                            "value": {"leadgen_id": i, "page_id": "page-1", "form_id": "f-1"},
                        }
                        for i in leadgen_ids
                    ],
                }
            ],
        }
    )
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}", "content-type": "application/json"}


async def test_named_leads_are_fetched_retried_and_routed(
    backend: Backend, serve_api: Callable[[ASGIApp], str]
) -> None:
    failures = ["lg-2"]
    base = serve_api(
        graph_api(
            {
                "lg-1": [
                    {"name": "email", "values": ["Rae.Kim@Acme.example"]},
                    {"name": "full_name", "values": ["rae kim"]},
                    {"name": "company_name", "values": ["Acme"]},
                ],
                "lg-2": [{"name": "phone_number", "values": ["+44 20 7946 0958"]}],
            },
            failures,
        )
    )
    http = backend.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/fb",
        headers=ADMIN,
        json={
            "provider": "meta",
            "api_base_url": base,
            "secrets": {"app_secret": APP_SECRET, "verify_token": "v", "access_token": "tok"},
        },
    )
    assert created.status_code == 201, created.text
    body, headers = webhook("lg-1", "lg-2", "lg-404")
    response = await http.post("/ingest/v1/webhooks/fb", content=body, headers=headers)
    assert response.status_code == 200

    worker = next(
        w for w in backend.runtimes["ingest"].specs[0].workers if isinstance(w, FetchWorker)
    )
    await worker.run_once()  # the background loop may have taken some first: both are fine

    async def settled() -> dict[str, dict[str, Any]] | None:
        listed = (await http.get("/ingest/v1/deliveries", headers=ADMIN)).json()
        by_id = {d["external_id"]: d for d in listed}
        done = by_id.get("lg-1", {}).get("status") == "accepted"
        return by_id if done and by_id.get("lg-404", {}).get("status") == "rejected" else None

    deliveries = await eventually(settled)
    assert deliveries["lg-2"]["status"] == "pending"
    assert deliveries["lg-2"]["attempts"] == 1
    assert "500" in deliveries["lg-2"]["last_error"]

    found = (
        await http.get("/ingest/v1/leads", params={"email": "rae.kim@acme.example"}, headers=ADMIN)
    ).json()
    assert found[0]["lead"]["first_name"] == "Rae"
    events = await backend.timeline_with(found[0]["id"], "leadfarm.lead.deferred.v1")
    assert events[0]["data"]["external_id"] == "lg-1"
