"""Every service's own app (the cluster's processes) and the all-in-one app serve /docs and
/redoc with their assets from the process, under a CSP that allows scripts from this origin
only. (In a browser: tests/e2e/test_api_docs.py.)"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from contracts.topics import SERVICES
from services.app import create_app
from services.runtime import cluster_runtime, embedded_runtime
from services.settings import Settings

UNUSED_DB = "postgresql+asyncpg://leadfarm:leadfarm@127.0.0.1:1/never-connected"


def app_of(name: str) -> FastAPI:
    """The app, never started: nothing here connects to the database or the bus."""
    if name == "embedded":
        unused = "sqlite+aiosqlite:////nonexistent/leadfarm-docs.db"
        return create_app(embedded_runtime(Settings(database_url=unused)))
    settings = Settings(database_url=UNUSED_DB, kafka_bootstrap_servers="127.0.0.1:1")
    return create_app(cluster_runtime(settings, name))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [*SERVICES, "embedded"])
async def test_the_docs_pages_and_their_assets_are_served_here(name: str) -> None:
    transport = httpx.ASGITransport(app=app_of(name))
    async with httpx.AsyncClient(transport=transport, base_url="http://lf") as http:
        for page in ("/docs", "/redoc"):
            response = await http.get(page)
            assert response.status_code == 200, (page, response.text)
            csp = response.headers["content-security-policy"]
            assert "script-src 'self';" in csp, csp
            assert "default-src 'none'" in csp, csp
            urls = re.findall(r'(?:src|href)="([^"]+)"', response.text)
            assert urls, response.text
            for url in urls:
                assert url.startswith("/"), f"{page} loads {url} from elsewhere"
                asset = await http.get(url)
                assert asset.status_code == 200, url
                assert asset.content, url
