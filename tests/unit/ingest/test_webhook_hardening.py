"""Webhook hardening through the real route, on both runtimes: a signed delivery whose
timestamp is outside the window is refused naming the header, a copy of a signed delivery is
refused while a provider's re-signed retry is absorbed by ingest's idempotency, and a secret
rotates with two valid values that stop at expiry or on retirement."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from ingest.models import idempotency
from services.clock import ManualClock
from tests.backends import ADMIN, Backend, ClusterBackend, EmbeddedBackend
from tests.unit.ingest.providers.test_webflow import submission

WF_SECRET = "wf-secret-0123456789abcdef"


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
async def clocked(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Backend, ManualClock]]:
    clock = ManualClock()
    backend: Backend
    if request.param == "embedded":
        backend = await EmbeddedBackend(tmp_path, clock=clock).start()
    else:
        database = request.getfixturevalue("pg_database")
        kafka = request.getfixturevalue("kafka")
        backend = await ClusterBackend(database.url, kafka, clock=clock, data_dir=tmp_path).start()
    yield backend, clock
    await backend.stop()


def webflow_headers(body: bytes, stamp_ms: int, secret: str = WF_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{stamp_ms}:".encode() + body, hashlib.sha256)
    return {
        "content-type": "application/json",
        "x-webflow-timestamp": str(stamp_ms),
        "x-webflow-signature": digest.hexdigest(),
    }


async def test_stale_and_replayed_signed_deliveries_are_refused(
    clocked: tuple[Backend, ManualClock],
) -> None:
    backend, clock = clocked
    http = backend.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/wf",
        json={"provider": "webflow", "secrets": {"secret": WF_SECRET}},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    url = "/ingest/v1/webhooks/wf"
    body = orjson.dumps(submission(email="replay@example.com"))
    now_ms = int(clock.now().timestamp() * 1000)

    first = await http.post(url, content=body, headers=webflow_headers(body, now_ms))
    assert first.status_code == 200, first.text

    copy = await http.post(url, content=body, headers=webflow_headers(body, now_ms))
    assert copy.status_code == 409
    assert copy.headers["content-type"] == "application/problem+json"
    assert "x-webflow-signature" in copy.json()["detail"]
    shouted = webflow_headers(body, now_ms)  # hex in upper case verifies: still the same copy
    shouted["x-webflow-signature"] = shouted["x-webflow-signature"].upper()
    assert (await http.post(url, content=body, headers=shouted)).status_code == 409

    # Webflow's retry is signed anew: accepted, and ingest's idempotency makes it a duplicate.
    retry = await http.post(url, content=body, headers=webflow_headers(body, now_ms + 1500))
    assert retry.status_code == 200, retry.text
    found = await http.get(
        "/ingest/v1/leads", params={"email": "replay@example.com"}, headers=ADMIN
    )
    assert len(found.json()) == 1
    assert len(found.json()[0]["deliveries"]) == 1

    stale = await http.post(
        url, content=body, headers=webflow_headers(body, now_ms - 5 * 60_000 - 1000)
    )
    assert stale.status_code == 401
    assert stale.headers["content-type"] == "application/problem+json"
    assert "x-webflow-timestamp" in stale.json()["detail"]
    assert "expired" in stale.json()["detail"]

    # After the window the copy is refused for its age: the replay record is no longer needed.
    clock.advance(timedelta(minutes=11))
    late = await http.post(url, content=body, headers=webflow_headers(body, now_ms))
    assert late.status_code == 401


async def test_a_secret_rotates_with_two_valid_values_until_expiry_or_retirement(
    clocked: tuple[Backend, ManualClock], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend, clock = clocked
    http = backend.client("ingest")
    base = "/ingest/v1/sources/zaps"
    put = await http.put(
        base, json={"provider": "zapier", "secrets": {"token": "token-a-1234"}}, headers=ADMIN
    )
    assert put.status_code == 201, put.text

    sent: list[str] = []

    async def post_with(token: str) -> int:
        sent.append(token)
        response = await http.post(
            "/ingest/v1/webhooks/zaps",
            json={"email": f"lead{len(sent)}@example.com"},
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code

    rotated = await http.post(
        f"{base}/secret:rotate",
        json={"secret": "token", "value": "token-b-5678", "overlap_s": 3600},
        headers=ADMIN,
    )
    assert rotated.status_code == 200, rotated.text
    shown = rotated.json()
    assert shown["secrets"] == {"token": ["********", "********"]}
    assert set(shown["previous_secret_valid_until"]) == {"token"}
    assert "token-a" not in rotated.text
    assert "token-b" not in rotated.text
    assert await post_with("token-a-1234") == 200
    assert await post_with("token-b-5678") == 200

    clock.advance(timedelta(seconds=3601))  # the previous value expired
    assert await post_with("token-a-1234") == 401
    assert await post_with("token-b-5678") == 200
    read = (await http.get(base, headers=ADMIN)).json()
    assert read["secrets"] == {"token": ["********"]}
    assert read["previous_secret_valid_until"] == {}

    again = await http.post(
        f"{base}/secret:rotate", json={"secret": "token", "value": "token-c-9012"}, headers=ADMIN
    )
    assert again.status_code == 200
    assert await post_with("token-b-5678") == 200  # a day's overlap by default
    retired = await http.post(f"{base}/secret:retire", json={"secret": "token"}, headers=ADMIN)
    assert retired.status_code == 200
    assert retired.json()["secrets"] == {"token": ["********"]}
    assert await post_with("token-b-5678") == 401
    assert await post_with("token-c-9012") == 200

    unknown = await http.post(
        f"{base}/secret:rotate", json={"secret": "nope", "value": "x"}, headers=ADMIN
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "secret"
    missing = await http.post(
        "/ingest/v1/sources/none/secret:rotate",
        json={"secret": "token", "value": "x"},
        headers=ADMIN,
    )
    assert missing.status_code == 404

    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("token-a-1234", "token-b-5678", "token-c-9012"):
        assert secret not in logged


async def _remembered(backend: Backend, key_suffix: str) -> int:
    async with backend.runtimes["ingest"].units["ingest"].read() as conn:
        found = await conn.scalar(
            select(func.count()).where(idempotency.c.key.endswith(f":{key_suffix}"))
        )
        return int(found or 0)


async def test_an_idempotency_key_is_answered_again_for_its_window_only(
    clocked: tuple[Backend, ManualClock],
) -> None:
    """Within LEADFARM_INGEST_IDEMPOTENCY_HOURS (24) a retry gets the first answer and
    another body is refused; after it the key is free, and its old answer is deleted."""
    backend, clock = clocked
    http = backend.client("ingest")
    headers = {**ADMIN, "Idempotency-Key": "signup-7"}
    first = await http.post("/ingest/v1/leads", json={"email": "a@idem.example"}, headers=headers)
    assert first.status_code == 202
    clock.advance(timedelta(hours=23))
    retry = await http.post("/ingest/v1/leads", json={"email": "a@idem.example"}, headers=headers)
    assert retry.json() == first.json()
    other = await http.post("/ingest/v1/leads", json={"email": "b@idem.example"}, headers=headers)
    assert other.status_code == 422, "within the window the key is taken"

    clock.advance(timedelta(hours=2))
    again = await http.post("/ingest/v1/leads", json={"email": "b@idem.example"}, headers=headers)
    assert again.status_code == 202, again.text
    assert again.json()["lead_id"] != first.json()["lead_id"]
    retry = await http.post("/ingest/v1/leads", json={"email": "b@idem.example"}, headers=headers)
    assert retry.json() == again.json(), "the new answer is the one given again"
    assert await _remembered(backend, "signup-7") == 1

    headers = {**ADMIN, "Idempotency-Key": "signup-8"}
    await http.post("/ingest/v1/leads", json={"email": "c@idem.example"}, headers=headers)
    clock.advance(timedelta(hours=25))
    headers = {**ADMIN, "Idempotency-Key": "signup-9"}  # a later lead purges the old answers
    await http.post("/ingest/v1/leads", json={"email": "d@idem.example"}, headers=headers)
    assert await _remembered(backend, "signup-8") == 0
    assert await _remembered(backend, "signup-9") == 1
