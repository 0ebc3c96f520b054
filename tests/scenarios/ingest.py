"""Ingest in a known state for the provider adapters' tests: an embedded Leadfarm whose
sources the test puts, webhooks posted exactly as each provider sends them, and the fetch
worker run when the test says (the `ingest` fixture in tests/unit/ingest/providers/conftest.py
starts one)."""

from __future__ import annotations

from typing import Any

import httpx

from ingest.fetcher import FetchWorker
from tests.backends import ADMIN, EmbeddedBackend


class IngestHarness:
    def __init__(self, backend: EmbeddedBackend) -> None:
        self.backend = backend
        self.http = backend.client("ingest")

    async def put_source(
        self,
        name: str,
        provider: str,
        secrets: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        api_base_url: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "provider": provider,
            "secrets": secrets or {},
            "settings": settings or {},
            **extra,
        }
        if api_base_url:
            body["api_base_url"] = api_base_url
        response = await self.http.put(f"/ingest/v1/sources/{name}", json=body, headers=ADMIN)
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    async def post(
        self,
        name: str,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        query: str = "",
    ) -> httpx.Response:
        """POST a webhook exactly as the provider would (raw bytes, its headers)."""
        url = f"/ingest/v1/webhooks/{name}" + (f"?{query}" if query else "")
        return await self.http.post(
            url, content=body, headers={"content-type": content_type, **(headers or {})}
        )

    async def get(self, name: str, query: str = "") -> httpx.Response:
        return await self.http.get(f"/ingest/v1/webhooks/{name}" + (f"?{query}" if query else ""))

    def webhook_url(self, name: str, query: str = "") -> str:
        """The full URL the test client calls (what providers that sign the URL sign)."""
        return f"http://lf/ingest/v1/webhooks/{name}" + (f"?{query}" if query else "")

    async def fetch_now(self) -> int:
        """Run the fetch worker once, as its background loop would."""
        return await self.worker().run_once()

    def worker(self) -> FetchWorker:
        return next(
            w for s in self.backend.runtime.specs for w in s.workers if isinstance(w, FetchWorker)
        )

    async def leads_by_email(self, email: str) -> list[dict[str, Any]]:
        response = await self.http.get("/ingest/v1/leads", params={"email": email}, headers=ADMIN)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    async def deliveries(self, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else {}
        response = await self.http.get("/ingest/v1/deliveries", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found
