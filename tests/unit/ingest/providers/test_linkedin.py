"""The `linkedin` provider: Lead Sync notifications signed with X-LI-Signature, the
challengeCode validation, and leads fetched (answers named by their form's questions) from
a Marketing API played by a local server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from ingest.providers.base import (
    BadPayload,
    FetchFailed,
    FetchRef,
    Source,
    Unauthorized,
    Unusable,
    WebhookRequest,
)
from ingest.providers.linkedin import PROVIDER, challenge_response, lead_from_response
from tests.backends import ADMIN
from tests.scenarios.ingest import IngestHarness

CLIENT_SECRET = "li-client-secret-1"
TOKEN = "AQX-li-token"
SECRETS = {"client_secret": CLIENT_SECRET, "access_token": TOKEN}
FORM_ID = "7234246"
FORM_URN = f"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:{FORM_ID},1)"
# The challengeCode of LinkedIn's webhook-validation example.
CHALLENGE = "890e4665-4dfe-4ab1-b689-ed553bceeed0"
ServeApi = Callable[[ASGIApp], str]


# --- what LinkedIn sends and answers ------------------------------------------------------


def notification(lead_id: str, action: str = "CREATED") -> dict[str, Any]:
    """A lead notification with the fields the Lead Sync docs list."""
    return {
        "type": "LEAD_ACTION",
        "leadGenFormResponse": f"urn:li:leadGenFormResponse:{lead_id}",
        "leadGenForm": FORM_URN,
        "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:1234567"},
        "associatedEntity": {"sponsoredCreative": "urn:li:sponsoredCreative:241257736"},
        "leadType": "SPONSORED",
        "leadAction": action,
        "occurredAt": 1689894599288,
    }


def signed(body: Any, secret: str = CLIENT_SECRET) -> tuple[bytes, dict[str, str]]:
    """The raw body and its X-LI-Signature: hex HMAC-SHA256 of "hmacsha256=" + body."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    digest = hmac.new(secret.encode(), b"hmacsha256=" + raw, hashlib.sha256).hexdigest()
    return raw, {"X-LI-Signature": digest}


def question(qid: int, name: str, text: str, predefined: str | None = None) -> dict[str, Any]:
    q: dict[str, Any] = {
        "questionId": qid,
        "question": {"localized": {"es_ES": text}},
        "responseEditable": True,
        "name": name,
        "questionDetails": {"textQuestionDetails": {"maxResponseLength": 300}},
        "responseRequired": True,
    }
    if predefined:
        q["predefinedField"] = predefined
    return q


# The form of LinkedIn's Lead Sync example (written in Spanish), plus phone and company.
FORM = {
    "id": int(FORM_ID),
    "versionId": 1,
    "name": "Form with written spanish",
    "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:1234567"},
    "creationLocale": {"country": "ES", "language": "es"},
    "state": "PUBLISHED",
    "hiddenFields": [
        {"name": "hidden_field", "value": "abc678"},
        {"name": "utm_campaign", "value": "q4-routing"},
    ],
    "content": {
        "questions": [
            question(107234246, "First name", "Nombre", "FIRST_NAME"),
            question(207234246, "Last name", "Apellidos", "LAST_NAME"),
            question(307234246, "Email address", "Correo electrónico", "EMAIL"),
            question(407234246, "Job title", "Cargo", "JOB_TITLE"),
            question(507234246, "Function", "Función", "JOB_FUNCTION"),
            question(607234246, "Work email", "Correo electrónico del trabajo", "WORK_EMAIL"),
            {
                "name": "Custom question 0",
                "questionId": 707234246,
                "question": {"localized": {"es_ES": "Cuál es tu color favorito"}},
                "questionDetails": {
                    "multipleChoiceQuestionDetails": {
                        "options": [
                            {"text": {"localized": {"es_ES": "Rojo"}}, "id": 0},
                            {"text": {"localized": {"es_ES": "Azul"}}, "id": 1},
                        ]
                    }
                },
            },
            question(807234246, "Custom question 1", "¿Dónde creciste?"),
            question(907234246, "Phone number", "Teléfono", "PHONE_NUMBER"),
            question(1007234246, "Company name", "Empresa", "COMPANY_NAME"),
        ],
        "legalInfo": {
            "consents": [
                {"consent": {"localized": {"es_ES": "¡Envíenme novedades!"}}, "id": 0},
            ],
            "legalInfoId": 107234246,
        },
    },
}


def form_response(lead_id: str, test: bool = False, **answers: Any) -> dict[str, Any]:
    """A leadFormResponses entity; `answers` maps questionId ("q107234246") to the answer."""
    given = []
    for key, value in answers.items():
        details = (
            {"multipleChoiceAnswer": {"options": value}}
            if isinstance(value, list)
            else {"textQuestionAnswer": {"answer": value}}
        )
        given.append({"answerDetails": details, "questionId": int(key.removeprefix("q"))})
    return {
        "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:1234567"},
        "submitter": "urn:li:person:BcLKblgopR",
        "leadType": "SPONSORED",
        "leadMetadata": {
            "sponsoredLeadMetadata": {"campaign": "urn:li:sponsoredCampaign:198356826"}
        },
        "versionedLeadGenFormUrn": FORM_URN,
        "id": lead_id,
        "submittedAt": 1689894599288,
        "testLead": test,
        "associatedEntity": {"associatedCreative": "urn:li:sponsoredCreative:241257736"},
        "formResponse": {
            "consentResponses": [{"accepted": True, "consentId": 0}],
            "answers": given,
        },
    }


KEVIN_ID = "249592fc-d272-44ba-a7db-c2bdce579507-6"
KEVIN = form_response(
    KEVIN_ID,
    q307234246="KevJohonson@Email.com",
    q607234246="kjohonson@email.com",
    q707234246=[0],
    q807234246="Mexico",
    q107234246="kevin",
    q207234246="JOHONSON",
    q407234246="Senior Engineer",
    q507234246="Ingeniería",
    q907234246="+1 415 555 2671",
    q1007234246="Johonson Ltd",
)


class FakeLinkedIn:
    """leadFormResponses and leadForms of the Marketing API, with its error bodies."""

    def __init__(self, leads: dict[str, dict[str, Any]], fail_first: int = 0) -> None:
        self.leads = leads
        self.fail_first = fail_first
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.app = FastAPI()
        self.app.get("/rest/leadFormResponses/{lead_id}")(self.lead)
        self.app.get("/rest/leadForms/{form_id}")(self.form)

    def refusal(self, request: Request) -> JSONResponse | None:
        self.calls.append((request.url.path, dict(request.headers)))
        if self.fail_first > 0:
            self.fail_first -= 1
            return _error(500, "Internal Server Error")
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(401, "Invalid access token", service_code=65600)
        return None

    async def lead(self, lead_id: str, request: Request) -> JSONResponse:
        if refused := self.refusal(request):
            return refused
        if lead_id not in self.leads:
            return _error(404, f"Not Found: leadFormResponse {lead_id}")
        return JSONResponse(self.leads[lead_id])

    async def form(self, form_id: str, request: Request) -> JSONResponse:
        if refused := self.refusal(request):
            return refused
        return JSONResponse(FORM) if form_id == FORM_ID else _error(404, "Not Found")


def _error(status: int, message: str, service_code: int = 100) -> JSONResponse:
    body = {"status": status, "serviceErrorCode": service_code, "message": message}
    return JSONResponse(body, status_code=status)


async def linkedin_source(
    ingest: IngestHarness, serve_api: ServeApi, api: FakeLinkedIn, name: str = "li", **secrets: str
) -> None:
    base = serve_api(api.app)
    await ingest.put_source(
        name, "linkedin", {**SECRETS, **secrets}, api_base_url=f"{base}/rest", campaign="q4"
    )


def by_external_id(deliveries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["external_id"]: d for d in deliveries}


# --- the webhook, end to end --------------------------------------------------------------


async def test_the_validation_request_and_the_notifications_that_are_refused(
    ingest: IngestHarness,
) -> None:
    await ingest.put_source("li", "linkedin", SECRETS)
    ok = await ingest.get("li", f"challengeCode={CHALLENGE}")
    assert ok.status_code == 200
    assert ok.headers["content-type"] == "application/json"
    expected = hmac.new(CLIENT_SECRET.encode(), CHALLENGE.encode(), hashlib.sha256).hexdigest()
    assert ok.json() == {"challengeCode": CHALLENGE, "challengeResponse": expected}
    missing = await ingest.get("li")
    assert missing.status_code == 400
    assert "challengeCode is required" in missing.json()["detail"]
    raw, good = signed(notification(KEVIN_ID))
    oracle = await ingest.get("li", "challengeCode=" + quote(raw.decode()))
    assert oracle.status_code == 400, "only LinkedIn's UUIDs get an HMAC back"
    assert "not the UUID LinkedIn sends" in oracle.json()["detail"]

    _, forged = signed(notification(KEVIN_ID), secret="not-the-client-secret")
    bad = await ingest.post("li", raw, forged)
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"
    assert "X-LI-Signature signature does not match" in bad.json()["detail"]
    unsigned = await ingest.post("li", raw)
    assert unsigned.status_code == 401
    assert unsigned.headers["content-type"] == "application/problem+json"
    assert "X-LI-Signature header is missing" in unsigned.json()["detail"]

    updated = await ingest.post("li", *signed(notification(KEVIN_ID, action="UPDATED")))
    assert updated.status_code == 400
    assert "leadAction must be CREATED or DELETED" in updated.json()["detail"]
    no_urn = await ingest.post("li", *signed({"type": "LEAD_ACTION", "leadAction": "CREATED"}))
    assert no_urn.status_code == 400
    assert "leadGenFormResponse" in no_urn.json()["detail"]
    assert (await ingest.post("li", *signed(b"[{"))).status_code == 400

    assert (await ingest.post("li", raw, good, content_type="text/plain")).status_code == 415
    assert (await ingest.post("nobody", raw, good)).status_code == 404
    assert await ingest.deliveries() == []


async def test_leads_are_fetched_named_normalised_stored_once_and_erased_when_deleted(
    ingest: IngestHarness, serve_api: ServeApi
) -> None:
    ids = [f"5e0c0a3a-0000-4000-8000-00000000000{i}-1" for i in range(2)]
    leads = {i: form_response(i, q307234246=f"person{n}@acme.example") for n, i in enumerate(ids)}
    api = FakeLinkedIn({KEVIN_ID: KEVIN, **leads})
    await linkedin_source(ingest, serve_api, api)
    raw, headers = signed([notification(KEVIN_ID), *map(notification, ids), notification(ids[0])])

    started = time.monotonic()
    response = await ingest.post("li", raw, headers)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 2
    assert api.calls == [], "the webhook is answered before the leads are fetched"
    pending = await ingest.deliveries("pending")
    assert sorted(d["external_id"] for d in pending) == sorted([KEVIN_ID, *ids])

    assert await ingest.fetch_now() == 3
    [lead] = await ingest.leads_by_email("kevjohonson@email.com")
    profile = lead["lead"]
    assert profile["phone"] == "+14155552671"
    assert (profile["first_name"], profile["last_name"]) == ("Kevin", "Johonson")
    assert (profile["company"], profile["job_title"]) == ("Johonson Ltd", "Senior Engineer")
    assert (profile["provider"], profile["source"], profile["campaign"]) == ("linkedin", "li", "q4")
    assert profile["answers"] == {
        "job_function": "Ingeniería",
        "work_email": "kjohonson@email.com",
        "Cuál es tu color favorito": "Rojo",
        "¿Dónde creciste?": "Mexico",
        "Consent: ¡Envíenme novedades!": "yes",
        "hidden_field": "abc678",
    }
    assert profile["utm"]["utm_campaign"] == "q4-routing"
    assert profile["utm"]["campaign_id"] == "urn:li:sponsoredCampaign:198356826"
    [stored] = lead["deliveries"]
    assert (stored["external_id"], stored["status"]) == (KEVIN_ID, "accepted")
    for n, lead_id in enumerate(ids):
        [found] = await ingest.leads_by_email(f"person{n}@acme.example")
        assert found["deliveries"][0]["external_id"] == lead_id

    kevin_paths = [path for path, _ in api.calls if KEVIN_ID in path]
    assert kevin_paths == [f"/rest/leadFormResponses/{KEVIN_ID}"]
    assert f"/rest/leadForms/{FORM_ID}" in [path for path, _ in api.calls]
    for _, sent in api.calls:
        assert sent["authorization"] == f"Bearer {TOKEN}"
        assert sent["x-restli-protocol-version"] == "2.0.0"
        assert len(sent["linkedin-version"]) == 6

    again = await ingest.post("li", raw, headers)
    assert again.status_code == 200
    assert await ingest.fetch_now() == 0
    assert len(await ingest.deliveries()) == 3, "a repeated delivery creates nothing"

    # LinkedIn says a lead was deleted: the stored copy is erased, a lead not yet fetched is
    # never fetched.
    later = "5e0c0a3a-0000-4000-8000-0000000000ff-2"
    gone = [notification(KEVIN_ID, "DELETED"), notification(later)]
    assert (await ingest.post("li", *signed(gone))).status_code == 200
    assert (await ingest.post("li", *signed(notification(later, "DELETED")))).status_code == 200
    deleted = by_external_id(await ingest.deliveries("deleted"))
    assert set(deleted) == {KEVIN_ID, later}
    assert deleted[KEVIN_ID]["reason"] == "deleted at the provider"
    calls = len(api.calls)
    assert await ingest.fetch_now() == 0
    assert len(api.calls) == calls


async def test_the_same_person_from_linkedin_and_the_api_is_one_lead(
    ingest: IngestHarness, serve_api: ServeApi
) -> None:
    api = FakeLinkedIn({KEVIN_ID: KEVIN})
    await linkedin_source(ingest, serve_api, api)
    first = await ingest.http.post(
        "/ingest/v1/leads",
        json={"email": "kevjohonson@email.com", "source": "website", "industry": "Software"},
        headers=ADMIN,
    )
    assert first.status_code == 202, first.text
    assert (await ingest.post("li", *signed(notification(KEVIN_ID)))).status_code == 200
    assert await ingest.fetch_now() == 1
    [lead] = await ingest.leads_by_email("kevjohonson@email.com")
    assert lead["id"] == first.json()["lead_id"]
    assert [(d["source"], d["external_id"]) for d in lead["deliveries"]] == [
        ("website", None),
        ("li", KEVIN_ID),
    ]
    assert lead["lead"]["industry"] == "Software"
    assert lead["lead"]["company"] == "Johonson Ltd", "the LinkedIn lead filled the gap"


@pytest.fixture
def one_fetch_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give up after the first failed fetch (set before `ingest` starts Leadfarm)."""
    monkeypatch.setenv("LEADFARM_INGEST_FETCH_MAX_ATTEMPTS", "1")


async def test_a_fetch_that_failed_is_kept_and_can_be_retried(
    one_fetch_attempt: None, ingest: IngestHarness, serve_api: ServeApi
) -> None:
    api = FakeLinkedIn({KEVIN_ID: KEVIN}, fail_first=1)
    await linkedin_source(ingest, serve_api, api)
    assert (await ingest.post("li", *signed(notification(KEVIN_ID)))).status_code == 200
    assert await ingest.fetch_now() == 1
    [failed] = await ingest.deliveries("failed")
    assert failed["attempts"] == 1
    assert "LinkedIn answered 500" in failed["last_error"]
    assert await ingest.leads_by_email("kevjohonson@email.com") == []

    retried = await ingest.http.post(f"/ingest/v1/deliveries/{failed['id']}/retry", headers=ADMIN)
    assert retried.status_code == 200, retried.text
    assert await ingest.fetch_now() == 1
    [lead] = await ingest.leads_by_email("kevjohonson@email.com")
    assert lead["deliveries"][0]["status"] == "accepted"


async def test_unusable_leads_are_rejected_and_a_refused_token_keeps_them_pending(
    ingest: IngestHarness, serve_api: ServeApi
) -> None:
    nameless_id = "5e0c0a3a-0000-4000-8000-000000000404-3"
    missing_id = "5e0c0a3a-0000-4000-8000-000000000000-9"
    nameless = form_response(nameless_id, q107234246="No", q207234246="Contact")
    api = FakeLinkedIn({nameless_id: nameless, KEVIN_ID: KEVIN})
    base = serve_api(api.app)
    await ingest.put_source("li", "linkedin", SECRETS, api_base_url=f"{base}/rest")
    expired = {**SECRETS, "access_token": "expired-token"}
    await ingest.put_source("li-old", "linkedin", expired, api_base_url=f"{base}/rest")
    body = [notification(missing_id), notification(nameless_id)]
    response = await ingest.post("li", *signed(body))
    assert response.status_code == 200, "the webhook was answered before anything was fetched"
    assert (await ingest.post("li-old", *signed(notification(KEVIN_ID)))).status_code == 200

    assert await ingest.fetch_now() == 3
    rejected = by_external_id(await ingest.deliveries("rejected"))
    assert f"LinkedIn has no lead {missing_id}" in rejected[missing_id]["reason"]
    assert "email" in rejected[nameless_id]["reason"]
    [pending] = await ingest.deliveries("pending")
    assert (pending["source"], pending["attempts"]) == ("li-old", 1)
    assert "renew secrets.access_token of source 'li-old'" in pending["last_error"]
    assert "Invalid access token" in pending["last_error"]
    assert "expired-token" not in pending["last_error"]
    assert await ingest.fetch_now() == 0, "it waits for its next attempt"


# --- the adapter on its own ----------------------------------------------------------------


def source(settings: dict[str, Any] | None = None, **secrets: str | tuple[str, ...]) -> Source:
    values = {**SECRETS, **secrets}
    return Source(
        name="li",
        provider="linkedin",
        secrets={k: v if isinstance(v, tuple) else (v,) for k, v in values.items()},
        settings={"field_map": {}, "api_version": "202606", **(settings or {})},
        api_base_url="https://api.linkedin.example/rest",
        source_class="marketing",
        campaign=None,
    )


def request(
    body: bytes = b"", headers: dict[str, str] | None = None, query: dict[str, str] | None = None
) -> WebhookRequest:
    return WebhookRequest(
        method="POST" if body else "GET",
        url="https://lf.example/ingest/v1/webhooks/li",
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query=query or {},
        body=body,
        content_type="application/json",
        received_at=datetime.now(UTC),
    )


def test_the_challenge_response_is_hex_hmac_sha256_of_the_code_keyed_with_the_secret() -> None:
    # Computed independently of the adapter (the key and code are the vector).
    expected = hmac.new(b"my-client-secret", CHALLENGE.encode(), hashlib.sha256).hexdigest()
    assert challenge_response(CHALLENGE, "my-client-secret") == expected
    reply = PROVIDER.handshake(request(query={"challengeCode": CHALLENGE}), source())
    assert json.loads(reply.body)["challengeResponse"] == challenge_response(
        CHALLENGE, CLIENT_SECRET
    )
    rotating = source(client_secret=("old-secret", "new-secret"))
    answered = PROVIDER.handshake(request(query={"challengeCode": CHALLENGE}), rotating)
    assert json.loads(answered.body)["challengeResponse"] == challenge_response(
        CHALLENGE, "new-secret"
    ), "the validation is answered with the current (last) secret"
    with pytest.raises(BadPayload, match="UUID"):
        PROVIDER.handshake(request(query={"challengeCode": "hmacsha256={}"}), source())


def test_the_signature_is_of_the_prefixed_body_with_any_current_secret() -> None:
    raw = json.dumps(notification(KEVIN_ID)).encode()
    rotating = source(client_secret=("old-secret", "new-secret"))
    prefixed = hmac.new(b"old-secret", b"hmacsha256=" + raw, hashlib.sha256).hexdigest()
    newer = hmac.new(b"new-secret", b"hmacsha256=" + raw, hashlib.sha256).hexdigest()
    for header in (prefixed, prefixed.upper(), f"hmacsha256={prefixed}", newer):
        PROVIDER.verify(request(raw, {"X-LI-Signature": header}), rotating)
    # The docs prescribe the HMAC of "hmacsha256=" + body: one of the body alone, with
    # or without a label on the header, is not LinkedIn's signature.
    plain = hmac.new(b"new-secret", raw, hashlib.sha256).hexdigest()
    for header in (plain, f"hmacsha256={plain}"):
        with pytest.raises(Unauthorized, match="does not match"):
            PROVIDER.verify(request(raw, {"X-LI-Signature": header}), rotating)
    with pytest.raises(Unauthorized, match="does not match"):
        PROVIDER.verify(request(raw + b" ", {"X-LI-Signature": prefixed}), rotating)
    with pytest.raises(Unauthorized, match="does not match"):
        PROVIDER.verify(request(raw, {"X-LI-Signature": prefixed}), source())
    with pytest.raises(Unauthorized, match="missing"):
        PROVIDER.verify(request(raw, {"X-LinkedIn-Signature": prefixed}), rotating)


def test_created_leads_are_fetched_and_deleted_ones_erased() -> None:
    body = [
        notification("a-1"),
        notification("a-1"),
        notification("b-2", "DELETED"),
        {**notification("c-3"), "leadGenFormResponse": "c-3"},
        {"type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS", "notifications": []},
    ]
    parsed = PROVIDER.parse(request(json.dumps(body).encode()), source())
    assert [f.external_id for f in parsed.fetches] == ["a-1", "c-3"]
    assert parsed.deletions == ["b-2"]
    assert parsed.fetches[0].ref == {
        "form": FORM_URN,
        "form_id": FORM_ID,
        "lead_type": "SPONSORED",
        "occurred_at": "1689894599288",
        "owner": "urn:li:sponsoredAccount:1234567",
    }
    single = PROVIDER.parse(request(json.dumps(notification("d-4")).encode()), source())
    assert [f.external_id for f in single.fetches] == ["d-4"]


@pytest.mark.parametrize(
    "body",
    [
        "LEAD_ACTION",
        ["x"],
        {**notification("a"), "leadAction": None},
        {**notification("a"), "leadGenFormResponse": "urn:li:leadGenFormResponse:../../me"},
        {**notification("a"), "leadGenFormResponse": 12},
    ],
)
def test_parse_refuses_what_linkedin_does_not_send(body: Any) -> None:
    with pytest.raises(BadPayload):
        PROVIDER.parse(request(json.dumps(body).encode()), source())


def test_answers_are_named_by_predefined_field_or_question_label() -> None:
    raw = lead_from_response(
        {**KEVIN, "testLead": True}, FORM, FetchRef(KEVIN_ID, {"form_id": FORM_ID})
    )
    assert raw.fields == {
        "email": "KevJohonson@Email.com",
        "work_email": "kjohonson@email.com",
        "Cuál es tu color favorito": "Rojo",
        "¿Dónde creciste?": "Mexico",
        "first_name": "kevin",
        "last_name": "JOHONSON",
        "job_title": "Senior Engineer",
        "job_function": "Ingeniería",
        "phone_number": "+1 415 555 2671",
        "company_name": "Johonson Ltd",
        "Consent: ¡Envíenme novedades!": "yes",
        "hidden_field": "abc678",
        "utm_campaign": "q4-routing",
    }
    assert raw.is_test is True
    assert raw.utm == {
        "form_id": FORM_ID,
        "campaign_id": "urn:li:sponsoredCampaign:198356826",
        "ad_id": "urn:li:sponsoredCreative:241257736",
        "lead_type": "SPONSORED",
    }
    unknown = lead_from_response(form_response("x", q5="?"), FORM, FetchRef("x"))
    assert unknown.fields["question 5"] == "?"


@pytest.mark.parametrize(
    ("status", "words", "kind"),
    [
        (404, "has no lead", Unusable),
        (401, "renew secrets.access_token", FetchFailed),
        (403, "r_marketing_leadgen_automation", FetchFailed),
        (426, "settings.api_version", FetchFailed),
        (429, "rate limit", FetchFailed),
        (503, "LinkedIn answered 503", FetchFailed),
    ],
)
async def test_marketing_api_errors_are_given_up_on_or_retried(
    status: int, words: str, kind: type[Exception]
) -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"status": status, "message": "Nope"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(kind, match=words):
            await PROVIDER.fetch(FetchRef(KEVIN_ID), source(), http)


async def test_a_404_that_is_not_linkedins_points_at_the_api_base_url() -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Not Found"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(FetchFailed, match="check api_base_url of source 'li'"):
            await PROVIDER.fetch(FetchRef(KEVIN_ID), source(), http)


async def test_the_calls_carry_the_version_and_a_missing_form_is_unusable() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if "leadFormResponses" in request.url.path:
            return httpx.Response(200, json=KEVIN)
        return httpx.Response(404, json={"status": 404, "message": "Not Found"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(Unusable, match=f"no form {FORM_ID}"):
            await PROVIDER.fetch(FetchRef(KEVIN_ID), source({"api_version": "202605"}), http)
    assert [r.url.path for r in sent] == [
        f"/rest/leadFormResponses/{KEVIN_ID}",
        f"/rest/leadForms/{FORM_ID}",
    ]
    assert {r.headers["linkedin-version"] for r in sent} == {"202605"}
    assert {r.headers["x-restli-protocol-version"] for r in sent} == {"2.0.0"}


async def test_an_api_that_does_not_answer_is_retried() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as http:
        with pytest.raises(FetchFailed, match="did not answer in time"):
            await PROVIDER.fetch(FetchRef(KEVIN_ID), source(), http)
