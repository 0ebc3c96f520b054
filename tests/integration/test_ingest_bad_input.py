"""Whatever a client sends, ingest answers 4xx naming the problem, never 5xx: on both
runtimes, since PostgreSQL refuses what SQLite lets through (a value longer than its
VARCHAR column, a second insert of one unique key by a concurrent request)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from typing import Any

import httpx
import orjson

from tests.backends import ADMIN, Backend

FORM = "application/x-www-form-urlencoded"
BEARER = {"Authorization": "Bearer tok"}
WF_SECRET = "wf-secret-0123456789abcdef"


async def put_source(http: httpx.AsyncClient, name: str, body: dict[str, Any]) -> None:
    created = await http.put(f"/ingest/v1/sources/{name}", json=body, headers=ADMIN)
    assert created.status_code in (200, 201), created.text


def nested(depth: int) -> bytes:
    """JSON arrays nested `depth` levels deep (orjson writes at most 254)."""
    return b"[" * depth + b'"deep"' + b"]" * depth


def webflow(body: bytes, stamp: str) -> dict[str, str]:
    digest = hmac.new(WF_SECRET.encode(), f"{stamp}:".encode() + body, hashlib.sha256)
    return {
        "content-type": "application/json",
        "x-webflow-timestamp": stamp,
        "x-webflow-signature": digest.hexdigest(),
    }


async def test_malformed_webhooks_are_refused_with_4xx_naming_the_problem(
    backend: Backend,
) -> None:
    http = backend.client("ingest")
    tag = uuid.uuid4().hex[:8]
    await put_source(http, f"zap-{tag}", {"provider": "zapier", "secrets": {"token": "tok"}})
    await put_source(http, f"site-{tag}", {"provider": "form"})
    await put_source(http, f"wf-{tag}", {"provider": "webflow", "secrets": {"secret": WF_SECRET}})

    async def post(name: str, body: bytes, headers: dict[str, Any]) -> httpx.Response:
        return await http.post(f"/ingest/v1/webhooks/{name}-{tag}", content=body, headers=headers)

    cases: list[tuple[str, str, bytes, dict[str, Any], int, str]] = [
        # A digit-like character that int() refuses, before the signature is checked.
        (
            "timestamp ²",
            "wf",
            b"{}",
            {**webflow(b"{}", "17"), "x-webflow-timestamp": "17²".encode("latin-1")},
            401,
            "x-webflow-timestamp header is not a time",
        ),
        # JSON nested 1,000 levels deep, within orjson's own limit, signed.
        (
            "deep JSON",
            "zap",
            b'{"email": "d-%s@acme.example", "x": %s}' % (tag.encode(), nested(1000)),
            {**BEARER, "content-type": "application/json"},
            400,
            "nests deeper than 32 levels",
        ),
        # A provider lead id longer than the VARCHAR(255) column.
        (
            "long id",
            "zap",
            orjson.dumps({"id": "x" * 300, "email": f"l-{tag}@acme.example"}),
            {**BEARER, "content-type": "application/json"},
            400,
            "300 characters long; at most 255",
        ),
        (
            "long submission id",
            "wf",
            (
                wf_body := orjson.dumps(
                    {
                        "triggerType": "form_submission",
                        "payload": {"id": "w" * 256, "data": {"Email": f"w-{tag}@acme.example"}},
                    }
                )
            ),
            webflow(wf_body, str(int(time.time() * 1000))),
            400,
            "256 characters long",
        ),
        # A multipart part in a charset Python does not know, or that is not text.
        *(
            (
                f"charset {charset}",
                "site",
                (
                    b'--b\r\nContent-Disposition: form-data; name="email"\r\n'
                    b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n\r\n"
                    b"a@acme.example\r\n--b--\r\n"
                ),
                {"content-type": "multipart/form-data; boundary=b"},
                400,
                f"form field 'email' declares charset '{charset}'",
            )
            for charset in ("x-unknown", "base64")
        ),
        # Broken percent-encoding, and percent-encoded bytes that are not UTF-8.
        ("%ZZ", "site", b"email=a%ZZ%40acme.example", {"content-type": FORM}, 400, "'%'"),
        (
            "%E9",
            "site",
            b"email=a%40acme.example&name=Jos%E9",
            {"content-type": FORM},
            400,
            "utf-8",
        ),
        ("bad name", "site", b"e%mail=a%40acme.example", {"content-type": FORM}, 400, "name of"),
    ]
    wrong = []
    for what, source, body, headers, status, words in cases:
        try:
            answer = await post(source, body, headers)
        except Exception as exc:  # noqa: BLE001 - the app's unhandled error, re-raised by the transport
            wrong.append((what, repr(exc)[:200]))
            continue
        detail = answer.json().get("detail", "") if answer.status_code >= 400 else answer.text
        if (answer.status_code, answer.headers["content-type"]) != (
            status,
            "application/problem+json",
        ) or words not in detail:
            wrong.append((what, f"{answer.status_code} {detail[:200]}"))
    assert not wrong, wrong

    # A digit-like answer is no number, and no reason to refuse the lead.
    superscript = await post(
        "zap",
        orjson.dumps({"email": f"sup-{tag}@acme.example", "timeframe": "12²"}),
        {**BEARER, "content-type": "application/json"},
    )
    assert superscript.status_code == 200, superscript.text

    # A declared charset is honoured.
    latin = await post(
        "site",
        f"email=latin-{tag}%40acme.example&full_name=Jos%E9+Mu%F1oz".encode(),
        {"content-type": f"{FORM}; charset=ISO-8859-1"},
    )
    assert latin.status_code == 200, latin.text
    found = await http.get(
        "/ingest/v1/leads", params={"email": f"latin-{tag}@acme.example"}, headers=ADMIN
    )
    assert found.json()[0]["lead"]["full_name"] == "José Muñoz"


async def test_concurrent_posts_with_one_idempotency_key_get_the_first_answer(
    backend: Backend,
) -> None:
    """A client retrying while its first request is still in flight: every copy gets the
    same answer (none a 500 from the key's unique index), and there is one lead."""
    http = backend.client("ingest")
    tag = uuid.uuid4().hex[:8]
    headers = {**ADMIN, "Idempotency-Key": f"retry-{tag}"}
    lead = {"email": f"idem-{tag}@acme.example", "source": "web"}
    answers = await asyncio.gather(
        *(http.post("/ingest/v1/leads", json=lead, headers=headers) for _ in range(8))
    )
    assert [a.status_code for a in answers] == [202] * 8, [a.text for a in answers]
    assert len({a.json()["lead_id"] for a in answers}) == 1
    found = await http.get(
        "/ingest/v1/leads", params={"email": f"idem-{tag}@acme.example"}, headers=ADMIN
    )
    [stored] = found.json()
    assert len(stored["deliveries"]) == 1


async def test_concurrent_puts_of_one_new_source_all_succeed(backend: Backend) -> None:
    http = backend.client("ingest")
    name = f"race-{uuid.uuid4().hex[:8]}"
    body = {"provider": "zapier", "secrets": {"token": "tok"}}
    answers = await asyncio.gather(
        *(http.put(f"/ingest/v1/sources/{name}", json=body, headers=ADMIN) for _ in range(6))
    )
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201], [a.text for a in answers]
