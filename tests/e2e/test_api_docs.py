"""The API docs pages in a real browser: /docs (Swagger UI) and /redoc (ReDoc) render every
operation of the all-in-one app with every request staying on Leadfarm's origin (a closed
network has no CDN), under their Content-Security-Policy, with no console error.

Chromium and the served app are those of the dashboard's test (tests/e2e/test_dashboard.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_dashboard import Chromium, Page, Served, chromium

pytestmark = pytest.mark.e2e

__all__ = ["chromium"]  # the fixture, shared with the dashboard's test


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with Served(tmp_path_factory.mktemp("api-docs") / "data") as running:
        yield running


def operations(served: Served) -> list[tuple[str, str]]:
    document = httpx.get(f"{served.base}/openapi.json").json()
    return [(method, path) for path, item in document["paths"].items() for method in item]


def open_page(browser: Chromium, url: str) -> Page:
    page = Page(browser)
    page.send("Network.enable")
    page.send("Page.navigate", {"url": url})
    page.wait_for("document.readyState === 'complete'")
    return page


def assert_same_origin(page: Page, served: Served) -> None:
    assert page.requests_sent(), "no request seen"
    elsewhere = page.requests_elsewhere(served.base)
    assert elsewhere == [], f"requests left the origin: {elsewhere}"


def test_swagger_ui_renders_every_operation_from_this_origin(
    chromium: str, served: Served, tmp_path: Path
) -> None:
    response = httpx.get(f"{served.base}/docs")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp, csp
    expected = operations(served)
    browser = Chromium(chromium, tmp_path)
    try:
        page = open_page(browser, f"{served.base}/docs")
        shown = page.wait_for(
            "document.querySelectorAll('.opblock').length >= "
            + str(len(expected))
            + " && document.querySelectorAll('.opblock').length",
        )
        assert shown == len(expected)
        listed: list[Any] = page.evaluate(
            "[...document.querySelectorAll('.opblock')].map(o => ["
            "o.querySelector('.opblock-summary-method').textContent.toLowerCase(),"
            "o.querySelector('.opblock-summary-path').dataset.path])"
        )
        assert sorted(tuple(op) for op in listed) == sorted(expected)

        # A lead's operation, opened, shows the body to send with its example.
        page.evaluate(
            "document.querySelector('#operations-ingest-post_lead_ingest_v1_leads_post"
            " .opblock-summary-control').click()"
        )
        body = page.wait_for(
            "document.querySelector('#operations-ingest-post_lead_ingest_v1_leads_post"
            " .opblock-section-request-body')?.innerText"
        )
        assert "dana@acme.example" in body
        assert_same_origin(page, served)
        assert page.errors() == []
    finally:
        browser.close()


def test_redoc_renders_every_operation_from_this_origin(
    chromium: str, served: Served, tmp_path: Path
) -> None:
    response = httpx.get(f"{served.base}/redoc")
    assert response.status_code == 200
    assert "script-src 'self';" in response.headers["content-security-policy"]
    expected = operations(served)
    browser = Chromium(chromium, tmp_path)
    try:
        page = open_page(browser, f"{served.base}/redoc")
        shown = page.wait_for(
            "document.querySelectorAll('[data-section-id^=\"operation/\"]').length",
            timeout=60,
        )
        assert shown == len(expected)
        assert_same_origin(page, served)
        # ReDoc's sidebar footer always asks for its maker's logo from the maker's site (and
        # hides it when it does not load): the CSP stops that request in the browser.
        logo = "'https://cdn.redoc.ly/redoc/logo-mini.svg' violates"
        assert [e for e in page.errors() if logo not in e] == []
    finally:
        browser.close()
