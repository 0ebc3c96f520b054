"""The console's page and assets (console/pages.py): served without a key under the
dashboard's strict policy, with nothing fetched from elsewhere, one sign-in script shared
with the dashboard, and jsdiff byte for byte as published (console/static/vendor/README.md).
The page in a browser: tests/e2e/test_console.py."""

from __future__ import annotations

import hashlib
import re

import httpx
from fastapi import FastAPI

from audit import dashboard
from console import pages

DIFF_SHA256 = "b51a9d2885f2c090dc97b981027395f7e7e6558a46c75ae3747db267913a89ab"


def client() -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(pages.router())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_the_console_is_one_page_with_its_assets_from_this_origin() -> None:
    async with client() as http:
        page = await http.get("/console")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == dashboard.CSP
        assert "default-src 'none'" in dashboard.CSP
        assert "script-src 'self'" in dashboard.CSP
        assert 'type="password"' in page.text
        assert "<script>" not in page.text, "no inline script: the policy would refuse it"
        assert " style=" not in page.text, "no inline style: the policy would refuse it"
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources
        for source in sources:
            assert source.startswith(("/console/", "#", "data:")), source
            if source.startswith("/console/"):
                asset = await http.get(source)
                assert asset.status_code == 200, source
                assert asset.headers["content-security-policy"] == dashboard.CSP
        for name in ("console.js", "conditions.js", "backtest.js", "signin.js", "console.css"):
            served = await http.get(f"/console/{name}")
            assert served.status_code == 200, name
            # The SVG namespace is a name, never fetched.
            ours = served.text.replace("http://www.w3.org/2000/svg", "")
            assert "http://" not in ours, name
            assert "https://" not in ours, name
        # One sign-in for the dashboard and the console.
        signin = await http.get("/console/signin.js")
        assert signin.content == (dashboard.STATIC / "signin.js").read_bytes()
        assert signin.headers["content-type"].startswith("text/javascript")
        diff = await http.get("/console/diff.min.js")
        assert hashlib.sha256(diff.content).hexdigest() == DIFF_SHA256
        assert (await http.get("/console/nope.js")).status_code == 404
