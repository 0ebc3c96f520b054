"""The `meta` provider: Meta Lead Ads webhooks (Page object, field `leadgen`), signed with
X-Hub-Signature-256, and leads fetched from a Graph API played by a local server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from ingest.providers.base import (
    BadPayload,
    FetchFailed,
    FetchRef,
    Forbidden,
    Source,
    Unauthorized,
    Unusable,
    WebhookRequest,
)
from ingest.providers.meta import PROVIDER, lead_from_graph
from tests.backends import ADMIN
from tests.scenarios.ingest import IngestHarness

APP_SECRET = "meta-app-secret-1"
VERIFY_TOKEN = "meatyhamhock"
PAGE_TOKEN = "EAAB-page-token"
SECRETS = {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "access_token": PAGE_TOKEN}
PAGE_ID = "444444444444"
ServeApi = Callable[[ASGIApp], str]


# --- what Meta sends and answers ----------------------------------------------------------


def change(leadgen_id: str, form_id: str = "555555555555") -> dict[str, Any]:
    """A leadgen change as in developers.facebook.com/docs/marketing-api/guides/lead-ads."""
    return {
        "field": "leadgen",
        "value": {
            "ad_id": "444444444",
            "form_id": form_id,
            "leadgen_id": leadgen_id,
            "created_time": 1440120384,
            "page_id": PAGE_ID,
            "adgroup_id": 44444444444,
        },
    }


def delivery(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": 1440120384, "changes": changes}]}


def signed(body: dict[str, Any] | bytes, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """The raw body and its X-Hub-Signature-256, computed as Meta documents it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hub-Signature-256": f"sha256={digest}"}


def graph_lead(leadgen_id: str, **answers: str | list[str]) -> dict[str, Any]:
    return {
        "id": leadgen_id,
        "created_time": "2026-11-20T08:49:14+0000",
        "ad_id": "444444444",
        "form_id": "555555555555",
        "campaign_id": "666666666",
        "is_organic": False,
        "platform": "fb",
        "field_data": [
            {"name": k, "values": v if isinstance(v, list) else [v]} for k, v in answers.items()
        ],
    }


ANNA = graph_lead(
    "900000000000001",
    email="Anna.Schmidt@Example.DE",
    full_name="anna SCHMIDT",
    phone_number="+49 30 1234567",
    company_name="Schmidt GmbH",
    job_title="Head of Operations",
    country="DE",
    **{"which_products_interest_you?": ["Routing", "Scoring"]},
)


class FakeGraph:
    """The Graph API's lead endpoint, with its documented error bodies."""

    def __init__(self, leads: dict[str, dict[str, Any]], fail_first: int = 0) -> None:
        self.leads = leads
        self.fail_first = fail_first
        self.calls: list[tuple[str, dict[str, str], str | None]] = []
        self.app = FastAPI()
        self.app.get("/v21.0/{lead_id}")(self.lead)

    async def lead(self, lead_id: str, request: Request) -> JSONResponse:
        self.calls.append(
            (lead_id, dict(request.query_params), request.headers.get("authorization"))
        )
        if self.fail_first > 0:
            self.fail_first -= 1
            return _graph_error(500, 2, None, "An unexpected error has occurred.", "OAuthException")
        if request.headers.get("authorization") != f"Bearer {PAGE_TOKEN}":
            return _graph_error(
                400,
                190,
                463,
                "Error validating access token: Session has expired.",
                "OAuthException",
            )
        if lead_id not in self.leads:
            return _graph_error(
                400,
                100,
                33,
                f"Unsupported get request. Object with ID '{lead_id}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation.",
                "GraphMethodException",
            )
        return JSONResponse(self.leads[lead_id])


def _graph_error(
    status: int, code: int, subcode: int | None, message: str, kind: str
) -> JSONResponse:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbC"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return JSONResponse({"error": error}, status_code=status)


async def meta_source(
    ingest: IngestHarness, serve_api: ServeApi, graph: FakeGraph, **secrets: str
) -> None:
    base = serve_api(graph.app)
    await ingest.put_source(
        "fb", "meta", {**SECRETS, **secrets}, api_base_url=f"{base}/v21.0", campaign="autumn"
    )


def by_external_id(deliveries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["external_id"]: d for d in deliveries}


# --- the webhook, end to end --------------------------------------------------------------


async def test_the_leads_of_a_delivery_are_fetched_normalised_and_stored_once(
    ingest: IngestHarness, serve_api: ServeApi
) -> None:
    others = [graph_lead(f"90000000000010{i}", email=f"lead{i}@acme.example") for i in range(2)]
    graph = FakeGraph({lead["id"]: lead for lead in [ANNA, *others]})
    await meta_source(ingest, serve_api, graph)
    ids = [ANNA["id"], others[0]["id"], others[1]["id"]]
    body = {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": 1,
                "changes": [change(ids[0]), {"field": "feed", "value": {"item": "post"}}],
            },
            {"id": PAGE_ID, "time": 2, "changes": [change(ids[1]), change(ids[2])]},
            {"id": PAGE_ID, "time": 3, "changes": [change(ids[0])]},
        ],
    }
    raw, headers = signed(body)

    started = time.monotonic()
    response = await ingest.post("fb", raw, headers)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 2
    assert graph.calls == [], "the webhook is answered before the leads are fetched"
    pending = await ingest.deliveries("pending")
    assert sorted(d["external_id"] for d in pending) == sorted(ids)
    assert {d["provider"] for d in pending} == {"meta"}

    assert await ingest.fetch_now() == 3
    [lead] = await ingest.leads_by_email("anna.schmidt@example.de")
    profile = lead["lead"]
    assert profile["phone"] == "+49301234567"
    assert (profile["first_name"], profile["last_name"]) == ("Anna", "Schmidt")
    assert profile["company"] == "Schmidt GmbH"
    assert profile["job_title"] == "Head of Operations"
    assert profile["country"] == "DE"
    assert (profile["provider"], profile["source"], profile["campaign"]) == ("meta", "fb", "autumn")
    assert profile["answers"] == {"which_products_interest_you?": "Routing, Scoring"}
    assert profile["utm"]["campaign_id"] == "666666666"
    [stored] = lead["deliveries"]
    assert (stored["external_id"], stored["status"]) == (ANNA["id"], "accepted")
    for other in others:
        [found] = await ingest.leads_by_email(other["field_data"][0]["values"][0])
        assert found["deliveries"][0]["external_id"] == other["id"]

    anna_call = next(call for call in graph.calls if call[0] == ANNA["id"])
    _, params, authorization = anna_call
    assert authorization == f"Bearer {PAGE_TOKEN}"
    assert "access_token" not in params, "the token travels in a header, not in the URL"
    assert set(params["fields"].split(",")) >= {"field_data", "ad_id", "campaign_id", "form_id"}
    expected_proof = hmac.new(APP_SECRET.encode(), PAGE_TOKEN.encode(), hashlib.sha256)
    assert params["appsecret_proof"] == expected_proof.hexdigest()

    again = await ingest.post("fb", raw, headers)
    assert again.status_code == 200
    assert await ingest.fetch_now() == 0
    assert len(await ingest.deliveries()) == 3, "a repeated delivery creates nothing"
    [lead] = await ingest.leads_by_email("anna.schmidt@example.de")
    assert len(lead["deliveries"]) == 1


async def test_the_same_person_from_meta_and_a_zap_is_one_lead(
    ingest: IngestHarness, serve_api: ServeApi
) -> None:
    graph = FakeGraph({ANNA["id"]: ANNA})
    await meta_source(ingest, serve_api, graph)
    await ingest.put_source("zaps", "zapier", {"token": "zap-token"})
    zap = await ingest.post(
        "zaps",
        b'{"id": "zap-1", "email": "anna.schmidt@example.de", "industry": "Logistics"}',
        {"Authorization": "Bearer zap-token"},
    )
    assert zap.status_code == 200
    raw, headers = signed(delivery(change(ANNA["id"])))
    assert (await ingest.post("fb", raw, headers)).status_code == 200
    assert await ingest.fetch_now() == 1
    [lead] = await ingest.leads_by_email("anna.schmidt@example.de")
    assert [(d["source"], d["external_id"]) for d in lead["deliveries"]] == [
        ("zaps", "zap-1"),
        ("fb", ANNA["id"]),
    ]
    assert lead["lead"]["industry"] == "Logistics"
    assert lead["lead"]["phone"] == "+49301234567", "the Meta lead filled the gap"


async def test_the_verification_request_and_the_deliveries_that_are_refused(
    ingest: IngestHarness,
) -> None:
    await ingest.put_source("fb", "meta", {**SECRETS, "verify_token": ["old-token", VERIFY_TOKEN]})
    ok = await ingest.get(
        "fb", f"hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"
    )
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    rotated = await ingest.get(
        "fb", "hub.mode=subscribe&hub.challenge=42&hub.verify_token=old-token"
    )
    assert rotated.text == "42"
    wrong = await ingest.get("fb", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope")
    assert wrong.status_code == 403
    assert wrong.headers["content-type"] == "application/problem+json"
    assert "verify_token does not match" in wrong.json()["detail"]
    missing = await ingest.get("fb", "hub.mode=subscribe&hub.challenge=1")
    assert missing.status_code == 400
    assert "hub.verify_token" in missing.json()["detail"]

    raw, good = signed(delivery(change("900000000000001")))
    _, forged = signed(delivery(change("900000000000001")), secret="not-the-app-secret")

    bad = await ingest.post("fb", raw, forged)
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"
    assert "X-Hub-Signature-256 signature does not match" in bad.json()["detail"]
    missing = await ingest.post("fb", raw)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert "X-Hub-Signature-256 header is missing" in missing.json()["detail"]
    sha1 = await ingest.post("fb", raw, {"X-Hub-Signature-256": "sha1=abc"})
    assert sha1.status_code == 401

    user_object = await ingest.post("fb", *signed({"object": "user", "entry": []}))
    assert user_object.status_code == 400
    assert "not a meta webhook" in user_object.json()["detail"]
    not_json = await ingest.post("fb", *signed(b'{"object": "page", '))
    assert not_json.status_code == 400
    no_id = await ingest.post("fb", *signed(delivery({"field": "leadgen", "value": {}})))
    assert no_id.status_code == 400
    assert "leadgen_id" in no_id.json()["detail"]

    form = await ingest.post("fb", raw, good, content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415
    unknown = await ingest.post("nobody", raw, good)
    assert unknown.status_code == 404
    assert await ingest.deliveries() == []


@pytest.fixture
def one_fetch_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give up after the first failed fetch (set before `ingest` starts Leadfarm)."""
    monkeypatch.setenv("LEADFARM_INGEST_FETCH_MAX_ATTEMPTS", "1")


async def test_a_fetch_that_failed_is_kept_and_can_be_retried(
    one_fetch_attempt: None, ingest: IngestHarness, serve_api: ServeApi
) -> None:
    graph = FakeGraph({ANNA["id"]: ANNA}, fail_first=1)
    await meta_source(ingest, serve_api, graph)
    assert (await ingest.post("fb", *signed(delivery(change(ANNA["id"]))))).status_code == 200

    assert await ingest.fetch_now() == 1
    [failed] = await ingest.deliveries("failed")
    assert failed["attempts"] == 1
    assert "500" in failed["last_error"]
    assert "unexpected error" in failed["last_error"]
    assert await ingest.leads_by_email("anna.schmidt@example.de") == []

    retried = await ingest.http.post(f"/ingest/v1/deliveries/{failed['id']}/retry", headers=ADMIN)
    assert retried.status_code == 200, retried.text
    assert await ingest.fetch_now() == 1
    [lead] = await ingest.leads_by_email("anna.schmidt@example.de")
    assert lead["deliveries"][0]["status"] == "accepted"
    assert len(graph.calls) == 2


async def test_unusable_leads_are_rejected_and_a_refused_token_keeps_them_pending(
    ingest: IngestHarness, serve_api: ServeApi
) -> None:
    nameless = graph_lead("900000000000009", full_name="No Contact", city="Berlin")
    graph = FakeGraph({nameless["id"]: nameless, ANNA["id"]: ANNA})
    base = serve_api(graph.app)
    await ingest.put_source("fb", "meta", SECRETS, api_base_url=f"{base}/v21.0")
    expired = {**SECRETS, "access_token": "expired-token"}
    await ingest.put_source("fb-old", "meta", expired, api_base_url=f"{base}/v21.0")
    body = delivery(change("900000000000404"), change(nameless["id"]))
    response = await ingest.post("fb", *signed(body))
    assert response.status_code == 200, "the webhook was answered before anything was fetched"
    assert (await ingest.post("fb-old", *signed(delivery(change(ANNA["id"]))))).status_code == 200

    assert await ingest.fetch_now() == 3
    rejected = by_external_id(await ingest.deliveries("rejected"))
    assert "Meta has no lead 900000000000404" in rejected["900000000000404"]["reason"]
    assert "does not exist" in rejected["900000000000404"]["reason"]
    assert "email" in rejected[nameless["id"]]["reason"]

    [pending] = await ingest.deliveries("pending")
    assert (pending["source"], pending["attempts"]) == ("fb-old", 1)
    assert "renew secrets.access_token of source 'fb-old'" in pending["last_error"]
    assert "code 190" in pending["last_error"]
    assert "expired-token" not in pending["last_error"]
    assert pending["next_attempt_at"] is not None
    assert await ingest.fetch_now() == 0, "it waits for its next attempt"


# --- the adapter on its own ----------------------------------------------------------------


def source(**secrets: str | tuple[str, ...]) -> Source:
    values = {**SECRETS, **secrets}
    return Source(
        name="fb",
        provider="meta",
        secrets={k: v if isinstance(v, tuple) else (v,) for k, v in values.items()},
        settings={"field_map": {}},
        api_base_url="https://graph.example/v21.0",
        source_class="marketing",
        campaign=None,
    )


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="https://lf.example/ingest/v1/webhooks/fb",
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query={},
        body=body,
        content_type="application/json",
        received_at=datetime.now(UTC),
    )


def test_the_signature_is_hmac_sha256_of_the_raw_body_with_any_current_app_secret() -> None:
    raw = b'{"object":"page","entry":[{"id":"1","changes":[]}],"note":"caf\\u00e9"}'
    # Computed independently of the adapter (the key and body are the vector).
    digest = hmac.new(b"old-secret", raw, hashlib.sha256).hexdigest()
    rotating = source(app_secret=("old-secret", "new-secret"))
    PROVIDER.verify(request(raw, {"X-Hub-Signature-256": f"sha256={digest}"}), rotating)
    PROVIDER.verify(request(raw, {"X-Hub-Signature-256": f"sha256={digest.upper()}"}), rotating)
    with pytest.raises(Unauthorized, match="does not match"):
        PROVIDER.verify(request(raw + b" ", {"X-Hub-Signature-256": f"sha256={digest}"}), rotating)
    with pytest.raises(Unauthorized, match="does not match"):
        PROVIDER.verify(request(raw, {"X-Hub-Signature-256": f"sha256={digest}"}), source())
    with pytest.raises(Unauthorized, match="sha256=<hex>"):
        PROVIDER.verify(request(raw, {"X-Hub-Signature-256": digest}), rotating)


def test_the_handshake_answers_only_a_proper_subscribe_request() -> None:
    def handshake(query: dict[str, str]) -> bytes:
        inbound = WebhookRequest(
            method="GET",
            url="https://lf.example/ingest/v1/webhooks/fb",
            headers={},
            query=query,
            body=b"",
            content_type="",
            received_at=datetime.now(UTC),
        )
        return PROVIDER.handshake(inbound, source()).body

    good = {
        "hub.mode": "subscribe",
        "hub.challenge": "1158201444",
        "hub.verify_token": VERIFY_TOKEN,
    }
    assert handshake(good) == b"1158201444"
    with pytest.raises(Forbidden):
        handshake({**good, "hub.verify_token": VERIFY_TOKEN + "x"})
    with pytest.raises(BadPayload, match="subscribe"):
        handshake({**good, "hub.mode": "unsubscribe"})
    with pytest.raises(BadPayload):
        handshake({**good, "hub.challenge": "<script>alert(1)</script>"})


def test_parse_keeps_the_lead_ids_and_their_references() -> None:
    body = json.dumps(delivery(change("900000000000001"), change("900000000000002"))).encode()
    parsed = PROVIDER.parse(request(body), source())
    assert [f.external_id for f in parsed.fetches] == ["900000000000001", "900000000000002"]
    assert parsed.fetches[0].ref == {
        "page_id": PAGE_ID,
        "form_id": "555555555555",
        "ad_id": "444444444",
        "adgroup_id": "44444444444",
        "created_time": "1440120384",
    }
    assert parsed.leads == []
    assert parsed.deletions == []


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"object": "page"},
        {"object": "page", "entry": {"id": "1"}},
        {"object": "page", "entry": ["x"]},
        {"object": "page", "entry": [{"id": "1", "changes": "leadgen"}]},
        {"object": "page", "entry": [{"id": "1", "changes": [{"field": "leadgen"}]}]},
        delivery({"field": "leadgen", "value": {"leadgen_id": "../me"}}),
        delivery({"field": "leadgen", "value": {"leadgen_id": True}}),
    ],
)
def test_parse_refuses_what_meta_does_not_send(body: Any) -> None:
    with pytest.raises(BadPayload):
        PROVIDER.parse(request(json.dumps(body).encode()), source())


def test_field_data_values_are_joined_and_test_leads_recognised() -> None:
    ref = FetchRef("1", {"form_id": "9"})
    raw = lead_from_graph(
        {
            "id": "1",
            "field_data": [
                {"name": "email", "values": ["a@b.example"]},
                {"name": "services", "values": ["Routing", " Scoring ", ""]},
                {"name": "empty", "values": []},
                {"name": "odd"},
            ],
        },
        ref,
    )
    assert raw.fields == {"email": "a@b.example", "services": "Routing, Scoring"}
    assert raw.utm == {"form_id": "9"}
    assert raw.is_test is False
    test_lead = lead_from_graph(
        {"field_data": [{"name": "email", "values": ["<test lead: dummy data for email>"]}]}, ref
    )
    assert test_lead.is_test is True
    with pytest.raises(Unusable, match="not a lead"):
        lead_from_graph({"id": "1", "name": "a Page"}, ref)


@pytest.mark.parametrize(
    ("status", "error", "kind", "words"),
    [
        (
            400,
            {"code": 100, "error_subcode": 33, "message": "Object does not exist"},
            Unusable,
            "has no lead",
        ),
        (
            404,
            {"code": 803, "message": "Some of the aliases you requested do not exist"},
            Unusable,
            "has no lead",
        ),
        (
            400,
            {"code": 190, "type": "OAuthException", "message": "Session expired"},
            FetchFailed,
            "renew",
        ),
        (
            403,
            {"code": 200, "message": "Requires leads_retrieval permission"},
            FetchFailed,
            "permission",
        ),
        (400, {"code": 17, "message": "User request limit reached"}, FetchFailed, "rate limit"),
        (
            500,
            {"code": 2, "is_transient": True, "message": "Service temporarily unavailable"},
            FetchFailed,
            "500",
        ),
        (502, None, FetchFailed, "502"),
        (404, None, FetchFailed, "check api_base_url"),
    ],
)
async def test_graph_errors_are_given_up_on_or_retried(
    status: int, error: dict[str, Any] | None, kind: type[Exception], words: str
) -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        if error is None:
            return httpx.Response(status, text="<html>Bad gateway</html>")
        return httpx.Response(status, json={"error": error})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(kind, match=words):
            await PROVIDER.fetch(FetchRef("900000000000001"), source(), http)


async def test_a_graph_api_that_does_not_answer_is_retried() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as http:
        with pytest.raises(FetchFailed, match="did not answer in time"):
            await PROVIDER.fetch(FetchRef("900000000000001"), source(), http)
