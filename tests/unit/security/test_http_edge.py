"""The HTTP edge: security headers on every answer, CORS closed unless origins are listed,
a rate limit per API key. (Keys stored as hashes: tests/unit/services/test_http.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends import ADMIN, EmbeddedBackend

ORIGIN = "https://crm.example.com"


async def test_security_headers_on_api_answers_errors_and_the_dashboard(
    embedded: EmbeddedBackend,
) -> None:
    http = embedded.client("ingest")
    answers = [
        await http.get("/ingest/v1/deliveries", headers=ADMIN),  # PII-bearing JSON
        await http.get("/ingest/v1/deliveries"),  # 401
        await http.post("/ingest/v1/leads", content=b"x" * (300 * 1024), headers=ADMIN),  # 413
        await http.get("/healthz"),
    ]
    for response in answers:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert [r.status_code for r in answers] == [200, 401, 413, 200]

    page = await http.get("/audit/v1/dashboard")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_cors_is_closed_by_default(embedded: EmbeddedBackend) -> None:
    http = embedded.client("ingest")
    simple = await http.get("/ingest/v1/deliveries", headers={**ADMIN, "Origin": ORIGIN})
    assert "access-control-allow-origin" not in simple.headers
    preflight = await http.options(
        "/ingest/v1/leads",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_admits_only_the_listed_origins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFARM_CORS_ORIGINS", f"{ORIGIN}, https://other.example.com/")
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        http = backend.client("ingest")
        preflight = await http.options(
            "/ingest/v1/leads",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert "access-control-allow-credentials" not in preflight.headers
        simple = await http.get("/ingest/v1/deliveries", headers={**ADMIN, "Origin": ORIGIN})
        assert simple.headers["access-control-allow-origin"] == ORIGIN
        other = await http.get(
            "/ingest/v1/deliveries", headers={**ADMIN, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
    finally:
        await backend.stop()


def test_a_wildcard_origin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.app import HttpSettings

    monkeypatch.setenv("LEADFARM_CORS_ORIGINS", "*")
    with pytest.raises(ValueError, match="not allowed"):
        HttpSettings().origins()


async def test_each_api_key_has_a_rate_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFARM_API_RATE_LIMIT_PER_SECOND", "0.01")
    monkeypatch.setenv("LEADFARM_API_RATE_LIMIT_BURST", "3")
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        http = backend.client("ingest")
        created = await http.post(
            "/admin/v1/keys", json={"name": "m", "scope": "manager"}, headers=ADMIN
        )
        manager = {"Authorization": f"Bearer {created.json()['key']}"}
        statuses = [
            (await http.get("/ingest/v1/deliveries", headers=manager)).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 200]
        limited = await http.get("/ingest/v1/deliveries", headers=manager)
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["status"] == 429
        # Another key has its own bucket; the admin key used above has one request left.
        assert (await http.get("/ingest/v1/deliveries", headers=ADMIN)).status_code == 200
        # A request without a valid key is refused before it can use anyone's bucket.
        assert (await http.get("/ingest/v1/deliveries")).status_code == 401
    finally:
        await backend.stop()
