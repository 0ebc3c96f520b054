"""hubspot: app webhooks (contact events, fetched from the CRM API) and workflow webhooks
(the contact inline), both signed with `X-HubSpot-Signature-v3`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
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
from ingest.providers.hubspot import PROVIDER, signed_uri
from tests.backends import ADMIN
from tests.scenarios.ingest import IngestHarness

CLIENT_SECRET = "6b1c0a7e-3f5d-4e2a-9c8b-hubspot-client"
OLD_SECRET = "0f9e8d7c-old-client-secret"
TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
PORTAL = 62515
NAME = "hs"
URL = f"http://lf/ingest/v1/webhooks/{NAME}"


def signed(
    body: bytes,
    uri: str = URL,
    secret: str = CLIENT_SECRET,
    method: str = "POST",
    timestamp: int | None = None,
) -> dict[str, str]:
    """The headers as HubSpot computes them: base64 HMAC-SHA256 of method + URI (with the
    documented characters decoded) + body + timestamp, keyed with the app's client secret."""
    stamp = str(timestamp if timestamp is not None else int(time.time() * 1000))
    message = method.encode() + uri.encode() + body + stamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature": hashlib.sha256(secret.encode() + body).hexdigest(),
    }


def event(object_id: int, kind: str = "contact.creation", event_id: int = 1) -> dict[str, Any]:
    """One subscription event as in HubSpot's documentation (a batch is an array of them)."""
    return {
        "eventId": event_id,
        "subscriptionId": 12345,
        "portalId": PORTAL,
        "appId": 54321,
        "occurredAt": 1564113600000,
        "subscriptionType": kind,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM",
        "changeFlag": "NEW",
    }


def workflow_contact(
    vid: int = 3234574, email: str = "Ines.Moreau@Example.org", phone: str = "+33 1 42 68 53 00"
) -> dict[str, Any]:
    """A contact-based workflow's "Send a webhook" body with all properties: the contact as
    the contacts API gives it, each property as {"value": .., "versions": [..]}."""

    def prop(value: str) -> dict[str, Any]:
        return {
            "value": value,
            "versions": [
                {
                    "value": value,
                    "source-type": "FORM",
                    "source-id": None,
                    "source-label": None,
                    "timestamp": 1484026585538,
                    "selected": False,
                }
            ],
        }

    return {
        "vid": vid,
        "canonical-vid": vid,
        "merged-vids": [],
        "portal-id": PORTAL,
        "is-contact": True,
        "properties": {
            "email": prop(email),
            "firstname": prop("inès"),
            "lastname": prop("MOREAU"),
            "phone": prop(phone),
            "company": prop("Atelier Moreau SAS"),
            "jobtitle": prop("Head of Sales"),
            "country": prop("France"),
            "numemployees": prop("25-50"),
            "hs_language": prop("fr"),
            "hs_lead_status": prop("NEW"),
            "hs_analytics_revenue": prop("0.0"),
            "hs_analytics_source": prop("ORGANIC_SEARCH"),
            "num_unique_conversion_events": prop("1"),
            "createdate": prop("1484026585538"),
            "lastmodifieddate": prop("1484026593060"),
        },
        "form-submissions": [],
        "identity-profiles": [
            {
                "vid": vid,
                "saved-at-timestamp": 1484026585613,
                "deleted-changed-timestamp": 0,
                "identities": [{"type": "EMAIL", "value": email, "timestamp": 1484026585538}],
            }
        ],
    }


def source(
    secrets: tuple[str, ...] = (CLIENT_SECRET,),
    settings: dict[str, Any] | None = None,
    token: str | None = TOKEN,
) -> Source:
    return Source(
        name=NAME,
        provider="hubspot",
        secrets={"client_secret": secrets, **({"access_token": (token,)} if token else {})},
        settings={"field_map": {}, "max_clock_skew_s": 300, **(settings or {})},
        api_base_url=None,
        source_class="marketing",
        campaign=None,
    )


def request(body: bytes, headers: dict[str, str] | None = None, url: str = URL) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=url,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query={},
        body=body,
        content_type="application/json",
        received_at=datetime.now(UTC),
    )


# --- the adapter alone ------------------------------------------------------------------


def test_the_v3_signature_is_checked_against_every_client_secret() -> None:
    body = orjson.dumps([event(101)])
    rotating = source(secrets=(OLD_SECRET, CLIENT_SECRET))
    PROVIDER.verify(request(body, signed(body, secret=OLD_SECRET)), rotating)
    PROVIDER.verify(request(body, signed(body)), rotating)
    with pytest.raises(Unauthorized, match="does not match"):
        PROVIDER.verify(request(body, signed(body, secret="someone-else")), rotating)
    with pytest.raises(Unauthorized, match="does not match"):  # other bytes than were signed
        PROVIDER.verify(request(body + b" ", signed(body)), rotating)
    with pytest.raises(Unauthorized, match="does not match"):  # signed for another URL
        PROVIDER.verify(request(body, signed(body, uri=URL + "x")), rotating)
    with pytest.raises(Unauthorized, match="does not match"):  # signed for another method
        PROVIDER.verify(request(body, signed(body, method="PUT")), rotating)
    with pytest.raises(Unauthorized, match="Signature-v3 header is missing"):
        PROVIDER.verify(request(body), rotating)
    v1_only = {k: v for k, v in signed(body).items() if not k.endswith("-v3")}
    with pytest.raises(Unauthorized, match="Signature-v3 header is missing"):
        PROVIDER.verify(request(body, v1_only), rotating)
    no_time = {k: v for k, v in signed(body).items() if k != "X-HubSpot-Request-Timestamp"}
    with pytest.raises(Unauthorized, match="Timestamp header is missing"):
        PROVIDER.verify(request(body, no_time), rotating)


def test_old_and_future_timestamps_are_refused() -> None:
    body = orjson.dumps([event(101)])
    now = int(time.time() * 1000)
    PROVIDER.verify(request(body, signed(body, timestamp=now - 240_000)), source())
    with pytest.raises(Unauthorized, match="expired"):
        PROVIDER.verify(request(body, signed(body, timestamp=now - 301_000)), source())
    with pytest.raises(Unauthorized, match="in the future"):
        PROVIDER.verify(request(body, signed(body, timestamp=now + 600_000)), source())
    headers = {**signed(body), "X-HubSpot-Request-Timestamp": "yesterday"}
    with pytest.raises(Unauthorized, match="milliseconds"):
        PROVIDER.verify(request(body, headers), source())
    lenient = source(settings={"max_clock_skew_s": 600})
    PROVIDER.verify(request(body, signed(body, timestamp=now - 500_000)), lenient)


def test_the_signed_uri_decodes_the_characters_hubspot_decodes() -> None:
    called = "https://leads.example.com/ingest/v1/webhooks/hs?list=a%3Ab%2Fc%40d%21%24%27%28%29%2a%2C%3B%3F&q=a%20b%26c"
    assert signed_uri(called) == (
        "https://leads.example.com/ingest/v1/webhooks/hs?list=a:b/c@d!$'()*,;?&q=a%20b%26c"
    )
    assert signed_uri(
        "http://10.0.0.7:8000/ingest/v1/webhooks/hs?x=1", "https://leads.example.com"
    ) == ("https://leads.example.com/ingest/v1/webhooks/hs?x=1")
    body = b"[]"
    behind_proxy = source(settings={"public_base_url": "https://leads.example.com"})
    headers = signed(body, uri="https://leads.example.com/ingest/v1/webhooks/hs")
    PROVIDER.verify(
        request(body, headers, url="http://10.0.0.7:8000/ingest/v1/webhooks/hs"), behind_proxy
    )


def test_a_batch_of_events_names_each_contact_to_fetch_once() -> None:
    batch = [
        event(101, event_id=1),
        event(102, event_id=2),
        event(101, "contact.propertyChange", event_id=3)
        | {"propertyName": "email", "propertyValue": "a@b.example"},
        event(7001, "deal.creation", event_id=4),
        event(103, "contact.deletion", event_id=5),
        event(104, "object.creation", event_id=6) | {"objectTypeId": "0-1"},
        event(9001, "object.creation", event_id=7) | {"objectTypeId": "0-2"},  # a company
        event(105, "contact.privacyDeletion", event_id=8),
    ]
    parsed = PROVIDER.parse(request(orjson.dumps(batch)), source())
    assert [f.external_id for f in parsed.fetches] == ["62515:101", "62515:102", "62515:104"]
    assert parsed.fetches[0].ref == {
        "contact_id": "101",
        "portal_id": "62515",
        "event": "contact.creation",
    }
    assert parsed.deletions == ["62515:105"]
    assert parsed.leads == []


def test_a_workflow_body_with_all_properties_is_one_lead() -> None:
    parsed = PROVIDER.parse(request(orjson.dumps(workflow_contact())), source())
    (lead,) = parsed.leads
    assert lead.external_id == "62515:3234574"
    assert lead.fields == {
        "email": "Ines.Moreau@Example.org",
        "firstname": "inès",
        "lastname": "MOREAU",
        "phone": "+33 1 42 68 53 00",
        "company": "Atelier Moreau SAS",
        "jobtitle": "Head of Sales",
        "numemployees": "25-50",
        "country": "France",
        "language": "fr",  # hs_language, renamed to a name the mapper knows
        "hs_lead_status": "NEW",  # kept: a custom answer
    }  # HubSpot's analytics and record-keeping properties are left out


def test_a_customised_workflow_body_keeps_every_chosen_property() -> None:
    body = {
        "hs_object_id": 901,
        "email": "kai@example.net",
        "phone": "",
        "mobilephone": "+49 151 23456789",
        "hs_whatsapp_phone_number": "+49 160 5550000",
        "preferred_call_time": "mornings",
        "utm_source": "linkedin",
    }
    (lead,) = PROVIDER.parse(request(orjson.dumps(body)), source()).leads
    assert lead.external_id == "901"
    assert lead.fields == {
        "email": "kai@example.net",
        "mobile_phone": "+49 151 23456789",  # the empty phone is dropped, so this one counts
        "hs_whatsapp_phone_number": "+49 160 5550000",
        "preferred_call_time": "mornings",
        "utm_source": "linkedin",
    }
    # A field_map naming a HubSpot property keeps its name, so the mapping applies.
    mapped = source(settings={"field_map": {"mobilephone": "phone"}})
    (lead,) = PROVIDER.parse(request(orjson.dumps(body)), mapped).leads
    assert lead.fields["mobilephone"] == "+49 151 23456789"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'"a string"',
        b"[1, 2]",
        b'[{"objectId": 101, "portalId": 62515}]',
        b'[{"subscriptionType": "contact.creation", "portalId": 62515}]',
        b'[{"subscriptionType": "contact.creation", "objectId": "x1", "portalId": 62515}]',
        b'[{"subscriptionType": "contact.creation", "objectId": 101}]',
        b'{"vid": 1, "properties": ["email"]}',
    ],
)
def test_what_hubspot_never_sends_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayload):
        PROVIDER.parse(request(body), source())


async def fetch_with(
    handler: Callable[[httpx.Request], httpx.Response], ref: FetchRef, src: Source
) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        return await PROVIDER.fetch(ref, src, http)


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (httpx.Response(404, json={"category": "OBJECT_NOT_FOUND"}), Unusable, "no contact 101"),
        (
            httpx.Response(401, json={"category": "INVALID_AUTHENTICATION"}),
            FetchFailed,
            "refused the access token",
        ),
        (
            httpx.Response(403, json={"category": "MISSING_SCOPES"}),
            FetchFailed,
            "crm.objects.contacts.read",
        ),
        (httpx.Response(429, headers={"retry-after": "10"}), FetchFailed, "rate limit"),
        (httpx.Response(502, text="Bad Gateway"), FetchFailed, "answered 502"),
        (httpx.Response(200, text="<html>"), FetchFailed, "not JSON"),
        (
            httpx.Response(200, json={"id": "101", "archived": True, "properties": {}}),
            Unusable,
            "archived",
        ),
        (httpx.ReadTimeout("slow"), FetchFailed, "did not answer in time"),
        (httpx.ConnectError("refused"), FetchFailed, "could not be reached"),
    ],
)
async def test_fetch_failures_are_retried_or_given_up(
    answer: httpx.Response | Exception, error: type[Exception], words: str
) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    with pytest.raises(error, match=words):
        await fetch_with(handler, FetchRef("62515:101", {"contact_id": "101"}), source())


async def test_a_source_without_an_access_token_cannot_fetch() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise AssertionError("HubSpot must not be called without a token")

    with pytest.raises(Unusable, match=r"set secrets\.access_token"):
        await fetch_with(handler, FetchRef("62515:101", {"contact_id": "101"}), source(token=None))


# --- a fake HubSpot CRM API ---------------------------------------------------------------


class FakeHubSpot:
    """`GET /crm/v3/objects/contacts/{id}` as HubSpot answers it; `status` forces an error."""

    def __init__(self) -> None:
        self.contacts: dict[str, dict[str, str | None]] = {}
        self.status: int | None = None
        self.calls: list[dict[str, str]] = []

    def app(self) -> ASGIApp:
        api = FastAPI()

        @api.get("/crm/v3/objects/contacts/{contact_id}")
        async def read(contact_id: str, request: Request) -> JSONResponse:
            self.calls.append(
                {
                    "id": contact_id,
                    "authorization": request.headers.get("authorization", ""),
                    "properties": request.query_params.get("properties", ""),
                }
            )
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"status": "error", "category": "INVALID_AUTHENTICATION"}, 401)
            if self.status is not None:
                return JSONResponse({"status": "error", "message": "internal error"}, self.status)
            if contact_id not in self.contacts:
                return JSONResponse({"status": "error", "category": "OBJECT_NOT_FOUND"}, 404)
            asked = request.query_params.get("properties", "").split(",")
            values = self.contacts[contact_id]
            properties = {name: values.get(name) for name in asked}  # null when not set
            properties |= {
                "createdate": "2026-03-01T10:00:00Z",
                "hs_object_id": contact_id,
                "lastmodifieddate": "2026-03-01T10:00:05Z",
            }
            return JSONResponse(
                {
                    "id": contact_id,
                    "properties": properties,
                    "archived": False,
                    "createdAt": "2026-03-01T10:00:00Z",
                    "updatedAt": "2026-03-01T10:00:05Z",
                }
            )

        return api


@pytest.fixture
def hubspot_api(serve_api: Callable[[ASGIApp], str]) -> tuple[FakeHubSpot, str]:
    fake = FakeHubSpot()
    fake.contacts["101"] = {
        "email": "Sofia.Lindqvist@Example.se",
        "firstname": "sofia",
        "lastname": "lindqvist",
        "phone": None,
        "mobilephone": "+46 70 123 45 67",
        "company": "Nordvind AB",
        "jobtitle": "CTO",
        "country": "Sweden",
        "numemployees": "100-500",
    }
    fake.contacts["102"] = {"email": "tomas@example.cz", "firstname": "Tomáš", "lastname": "Novák"}
    return fake, serve_api(fake.app())


@pytest.fixture
def ingest_one_attempt(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    """The embedded Leadfarm, giving up a fetch after one failed attempt (set before it starts)."""
    monkeypatch.setenv("LEADFARM_INGEST_FETCH_MAX_ATTEMPTS", "1")
    return request.getfixturevalue("ingest")


# --- through the webhook route ------------------------------------------------------------


async def post(
    ingest: IngestHarness, body: Any, secret: str = CLIENT_SECRET, **sign: Any
) -> httpx.Response:
    raw = orjson.dumps(body)
    return await ingest.post(NAME, raw, signed(raw, ingest.webhook_url(NAME), secret, **sign))


async def add_source(ingest: IngestHarness, api: str | None = None, **secrets: Any) -> None:
    await ingest.put_source(
        NAME,
        "hubspot",
        secrets=secrets or {"client_secret": CLIENT_SECRET, "access_token": TOKEN},
        api_base_url=api,
    )


async def test_a_workflow_webhook_becomes_one_normalised_lead(ingest: IngestHarness) -> None:
    await add_source(ingest)
    response = await post(ingest, workflow_contact())
    assert response.status_code == 200, response.text

    (found,) = await ingest.leads_by_email("ines.moreau@example.org")
    lead = found["lead"]
    assert lead["email"] == "ines.moreau@example.org"
    assert lead["phone"] == "+33142685300"
    assert (lead["first_name"], lead["last_name"]) == ("Inès", "Moreau")
    assert (lead["company"], lead["job_title"]) == ("Atelier Moreau SAS", "Head of Sales")
    assert (lead["country"], lead["employees"], lead["language"]) == ("FR", 25, "fr")
    assert lead["answers"] == {"hs_lead_status": "NEW"}
    assert lead["provider"] == "hubspot"
    assert lead["source"] == NAME
    assert [d["external_id"] for d in found["deliveries"]] == ["62515:3234574"]

    # HubSpot retries the same contact (or it re-enrols in the workflow): nothing new.
    assert (await post(ingest, workflow_contact())).status_code == 200
    (again,) = await ingest.leads_by_email("ines.moreau@example.org")
    assert len(again["deliveries"]) == 1


async def test_the_same_person_from_hubspot_and_the_api_is_one_lead(ingest: IngestHarness) -> None:
    await add_source(ingest)
    api = await ingest.http.post(
        "/ingest/v1/leads",
        json={"email": "INES.MOREAU@example.org", "need": "Routing for 40 reps", "source": "web"},
        headers=ADMIN,
    )
    assert api.status_code == 202, api.text
    assert (await post(ingest, workflow_contact())).status_code == 200

    (found,) = await ingest.leads_by_email("ines.moreau@example.org")
    assert sorted(d["provider"] for d in found["deliveries"]) == ["api", "hubspot"]
    assert found["lead"]["company"] == "Atelier Moreau SAS"  # the gap was filled
    assert found["lead"]["need"] == "Routing for 40 reps"


async def test_refusals_are_problem_json(ingest: IngestHarness) -> None:
    await add_source(ingest)
    raw = orjson.dumps(workflow_contact())

    missing = await ingest.post(NAME, raw)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert "X-HubSpot-Signature-v3 header is missing" in missing.json()["detail"]

    wrong = await ingest.post(NAME, raw, signed(raw, ingest.webhook_url(NAME), "not-the-secret"))
    assert wrong.status_code == 401
    assert "does not match" in wrong.json()["detail"]
    assert CLIENT_SECRET not in wrong.text

    stale = int(time.time() * 1000) - 6 * 60 * 1000
    expired = await ingest.post(NAME, raw, signed(raw, ingest.webhook_url(NAME), timestamp=stale))
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]

    malformed = b'[{"subscriptionType": "contact.creation"'
    bad = await ingest.post(NAME, malformed, signed(malformed, ingest.webhook_url(NAME)))
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"

    form = b"email=a%40b.example"
    as_form = await ingest.post(
        NAME,
        form,
        signed(form, ingest.webhook_url(NAME)),
        content_type="application/x-www-form-urlencoded",
    )
    assert as_form.status_code == 415

    unusable = await post(ingest, workflow_contact(email="not an address", phone=""))
    assert unusable.status_code == 422
    assert unusable.headers["content-type"] == "application/problem+json"
    assert {"email", "phone"} <= {e["field"] for e in unusable.json()["errors"]}
    assert [d for d in await ingest.deliveries() if d["source"] == NAME] == []


async def test_a_url_with_encoded_characters_is_verified_as_hubspot_signs_it(
    ingest: IngestHarness,
) -> None:
    await add_source(ingest)
    raw = orjson.dumps(workflow_contact())
    query = "campaign=spring%3A2026%2Fde&ref=a%20b"
    decoded = ingest.webhook_url(NAME, "campaign=spring:2026/de&ref=a%20b")
    response = await ingest.post(NAME, raw, signed(raw, decoded), query=query)
    assert response.status_code == 200, response.text


async def test_both_client_secrets_are_accepted_during_a_rotation(ingest: IngestHarness) -> None:
    await add_source(ingest, client_secret=[OLD_SECRET, CLIENT_SECRET])
    first = await post(ingest, workflow_contact(vid=1), secret=OLD_SECRET)
    other = workflow_contact(vid=2, email="b@example.org", phone="+33 6 12 34 56 78")
    second = await post(ingest, other, secret=CLIENT_SECRET)
    third = await post(ingest, workflow_contact(vid=3, email="c@example.org"), secret="retired")
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 401)
    assert await ingest.leads_by_email("ines.moreau@example.org")
    assert await ingest.leads_by_email("b@example.org")


async def test_an_app_webhook_batch_is_fetched_from_the_crm(
    ingest: IngestHarness, hubspot_api: tuple[FakeHubSpot, str]
) -> None:
    fake, base = hubspot_api
    await add_source(ingest, base)
    batch = [event(101, event_id=1), event(102, event_id=2), event(7001, "deal.creation", 3)]
    response = await post(ingest, batch)
    assert response.status_code == 200, response.text
    pending = [d for d in await ingest.deliveries("pending") if d["source"] == NAME]
    assert sorted(d["external_id"] for d in pending) == ["62515:101", "62515:102"]

    assert await ingest.fetch_now() == 2
    (sofia,) = await ingest.leads_by_email("sofia.lindqvist@example.se")
    lead = sofia["lead"]
    assert (lead["first_name"], lead["last_name"]) == ("Sofia", "Lindqvist")
    assert lead["phone"] == "+46701234567"  # mobilephone, as phone was empty
    assert (lead["company"], lead["job_title"]) == ("Nordvind AB", "CTO")
    assert (lead["country"], lead["employees"]) == ("SE", 100)
    assert lead["answers"] == {}
    assert [(d["external_id"], d["status"]) for d in sofia["deliveries"]] == [
        ("62515:101", "accepted")
    ]
    assert await ingest.leads_by_email("tomas@example.cz")
    call = fake.calls[0]
    assert call["authorization"] == f"Bearer {TOKEN}"
    assert {"email", "firstname", "phone", "mobilephone"} <= set(call["properties"].split(","))

    # HubSpot delivers the batch again, and names a contact again: nothing new.
    again = await post(ingest, [*batch, event(101, "contact.propertyChange", 4)])
    assert again.status_code == 200
    assert await ingest.fetch_now() == 0
    assert len([d for d in await ingest.deliveries() if d["source"] == NAME]) == 2


async def test_a_contact_hubspot_no_longer_has_is_rejected(
    ingest: IngestHarness, hubspot_api: tuple[FakeHubSpot, str]
) -> None:
    _, base = hubspot_api
    await add_source(ingest, base)
    response = await post(ingest, [event(404404)])
    assert response.status_code == 200  # acknowledged before anything was fetched
    await ingest.fetch_now()
    (rejected,) = await ingest.deliveries("rejected")
    assert rejected["external_id"] == "62515:404404"
    assert "no contact 404404" in rejected["reason"]


async def test_a_failing_crm_leaves_the_delivery_pending_with_its_error(
    ingest: IngestHarness, hubspot_api: tuple[FakeHubSpot, str]
) -> None:
    fake, base = hubspot_api
    fake.status = 500
    await add_source(ingest, base)
    assert (await post(ingest, [event(101)])).status_code == 200
    await ingest.fetch_now()
    (pending,) = await ingest.deliveries("pending")
    assert pending["attempts"] == 1
    assert "HubSpot answered 500" in pending["last_error"]
    assert pending["next_attempt_at"] is not None


async def test_a_failed_fetch_is_retried_by_an_operator(
    ingest_one_attempt: IngestHarness, hubspot_api: tuple[FakeHubSpot, str]
) -> None:
    ingest = ingest_one_attempt
    fake, base = hubspot_api
    fake.status = 503
    await add_source(ingest, base)
    assert (await post(ingest, [event(101)])).status_code == 200
    await ingest.fetch_now()
    (failed,) = await ingest.deliveries("failed")
    assert "HubSpot answered 503" in failed["last_error"]

    fake.status = None  # HubSpot is back
    retried = await ingest.http.post(f"/ingest/v1/deliveries/{failed['id']}/retry", headers=ADMIN)
    assert retried.status_code == 200, retried.text
    assert await ingest.fetch_now() == 1
    (found,) = await ingest.leads_by_email("sofia.lindqvist@example.se")
    assert [d["status"] for d in found["deliveries"]] == ["accepted"]
