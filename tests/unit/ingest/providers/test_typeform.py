"""typeform: Typeform's `form_response` webhook, signed with `Typeform-Signature`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ingest.providers.base import BadPayload, Source, Unauthorized, WebhookRequest
from ingest.providers.typeform import PROVIDER
from tests.scenarios.ingest import IngestHarness

SECRET = "tf-secret-0123456789abcdef"
RESPONSE_TOKEN = "a3a12ec67a1365927098a606107fac15"  # Typeform's id of the response


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """The header exactly as Typeform computes it: base64 HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"Typeform-Signature": "sha256=" + base64.b64encode(digest).decode()}


def delivery(
    token: str = RESPONSE_TOKEN,
    email: str = "Lian.Schmidt@Example.com",
    phone: str = "+49 30 901820",
    answers: list[dict[str, Any]] | None = None,
    hidden: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A `form_response` event in the documented shape (developers/webhooks/example-payload)."""
    fields = [
        {
            "id": "JwWggjAKtOkA",
            "title": "What is your first name?",
            "type": "short_text",
            "ref": "first_name",
        },
        {
            "id": "Kx8hq2Jv3LnP",
            "title": "And your last name?",
            "type": "short_text",
            "ref": "last_name",
        },
        {
            "id": "SMEUb7VJz92Q",
            "title": "Your email address?",
            "type": "email",
            "ref": "01H531GWVKAT474T5MS32VKKS9",
        },
        {
            "id": "pn48RmPazVdM",
            "title": "A phone number we can call?",
            "type": "phone_number",
            "ref": "9a489f17-8765-494b-933e-3624c645bd0c",
        },
    ]
    default_answers: list[dict[str, Any]] = [
        {
            "type": "text",
            "text": "lian",
            "field": {"id": "JwWggjAKtOkA", "type": "short_text", "ref": "first_name"},
        },
        {
            "type": "text",
            "text": "SCHMIDT",
            "field": {"id": "Kx8hq2Jv3LnP", "type": "short_text", "ref": "last_name"},
        },
        {
            "type": "email",
            "email": email,
            "field": {"id": "SMEUb7VJz92Q", "type": "email", "ref": "01H531GWVKAT474T5MS32VKKS9"},
        },
        {
            "type": "phone_number",
            "phone_number": phone,
            "field": {
                "id": "pn48RmPazVdM",
                "type": "phone_number",
                "ref": "9a489f17-8765-494b-933e-3624c645bd0c",
            },
        },
    ]
    return {
        "event_id": "LtWXD3crgy",
        "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j",
            "token": token,
            "submitted_at": "2018-01-18T18:17:02Z",
            "landed_at": "2018-01-18T18:07:02Z",
            "hidden": hidden if hidden is not None else {"utm_source": "newsletter"},
            "definition": {"id": "lT4Z3j", "title": "Contact us", "fields": fields},
            "answers": default_answers + (answers or []),
        },
    }


def source(settings: dict[str, Any] | None = None, secrets: tuple[str, ...] = (SECRET,)) -> Source:
    return Source(
        name="tf",
        provider="typeform",
        secrets={"secret": secrets},
        settings=settings or {"field_map": {}},
        api_base_url=None,
        source_class="marketing",
        campaign=None,
    )


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="http://lf/ingest/v1/webhooks/tf",
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query={},
        body=body,
        content_type="application/json",
        received_at=datetime.now(UTC),
    )


# --- the adapter alone ----------------------------------------------------------------


def test_signature_is_checked_against_every_secret_in_a_rotation() -> None:
    body = orjson.dumps(delivery())
    rotating = source(secrets=("old-secret", SECRET))
    PROVIDER.verify(request(body, signed(body, "old-secret")), rotating)
    PROVIDER.verify(request(body, signed(body, SECRET)), rotating)
    with pytest.raises(Unauthorized, match="does not match"):
        PROVIDER.verify(request(body, signed(body, "another")), rotating)
    with pytest.raises(Unauthorized, match="missing"):
        PROVIDER.verify(request(body), rotating)
    hex_digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(Unauthorized):  # hex is not what Typeform sends
        PROVIDER.verify(request(body, {"Typeform-Signature": f"sha256={hex_digest}"}), rotating)
    with pytest.raises(Unauthorized):  # a signature over other bytes
        PROVIDER.verify(request(body + b" ", signed(body)), rotating)


def test_answers_of_every_type_are_mapped() -> None:
    extra: list[dict[str, Any]] = [
        {
            "type": "choice",
            "choice": {"label": "Enterprise"},
            "field": {"id": "c1", "type": "multiple_choice", "ref": "plan"},
        },
        {
            "type": "choices",
            "choices": {"labels": ["CRM", "Routing"], "other": "Billing"},
            "field": {"id": "c2", "type": "multiple_choice", "ref": "product_interest"},
        },
        {
            "type": "boolean",
            "boolean": True,
            "field": {"id": "c3", "type": "yes_no", "ref": "call_me"},
        },
        {
            "type": "boolean",
            "boolean": False,
            "field": {"id": "c4", "type": "legal", "ref": "0f6c5e1e-6a4d-4a0a-9f76-2d9c1b1f0a11"},
        },
        {
            "type": "number",
            "number": 250,
            "field": {"id": "c5", "type": "number", "ref": "company_size"},
        },
        {"type": "number", "number": 4.5, "field": {"id": "c6", "type": "rating", "ref": "fit"}},
        {
            "type": "date",
            "date": "2026-03-01",
            "field": {"id": "c7", "type": "date", "ref": "start"},
        },
        {
            "type": "url",
            "url": "https://acme.example",
            "field": {"id": "c8", "type": "website", "ref": "website"},
        },
        {
            "type": "text",
            "text": "Acme GmbH",
            "field": {
                "id": "c9",
                "type": "short_text",
                "ref": "4f1d8e8a-1e4b-4a55-a9d3-0b1c2d3e4f50",
            },
        },
        {
            "type": "file_url",
            "file_url": "https://files.example/cv.pdf",
            "field": {"id": "c10", "type": "file_upload"},
        },
    ]
    body = delivery(
        answers=extra,
        hidden={"utm_source": "linkedin", "utm_medium": "cpc", "gclid": "Cj0KCQ", "user_id": "u-1"},
    )
    body["form_response"]["definition"]["fields"] += [
        {"id": "c4", "title": "I accept the terms", "type": "legal"},
        {"id": "c9", "title": "Company", "type": "short_text"},
        {"id": "c10", "title": "Upload your CV", "type": "file_upload"},
    ]
    body["form_response"]["calculated"] = {"score": 9}
    body["form_response"]["variables"] = [{"key": "name", "type": "text", "text": "typeform"}]
    parsed = PROVIDER.parse(request(orjson.dumps(body)), source())

    (lead,) = parsed.leads
    assert lead.external_id == RESPONSE_TOKEN
    assert lead.fields == {
        "first_name": "lian",
        "last_name": "SCHMIDT",
        "email": "Lian.Schmidt@Example.com",  # by type: its ref was generated
        "phone": "+49 30 901820",
        "plan": "Enterprise",
        "product_interest": "CRM, Routing, Billing",
        "call_me": "yes",
        "I accept the terms": "no",  # generated ref: the title names it
        "company_size": "250",
        "fit": "4.5",
        "start": "2026-03-01",
        "website": "https://acme.example",
        "Company": "Acme GmbH",
        "Upload your CV": "https://files.example/cv.pdf",
        "user_id": "u-1",
        "typeform_score": "9",
        "typeform_variable_name": "typeform",
    }
    assert lead.utm == {"utm_source": "linkedin", "utm_medium": "cpc"}
    assert lead.click_ids == {"gclid": "Cj0KCQ"}


def test_field_map_names_answers_by_ref_or_title() -> None:
    extra: list[dict[str, Any]] = [
        {
            "type": "text",
            "text": "6-12 months",
            "field": {
                "id": "t1",
                "type": "short_text",
                "ref": "6d7b1c2e-0000-4000-8000-000000000001",
            },
        },
        {
            "type": "text",
            "text": "Lead routing",
            "field": {"id": "t2", "type": "short_text", "ref": "what_we_need"},
        },
    ]
    body = delivery(answers=extra)
    body["form_response"]["definition"]["fields"].append(
        {"id": "t1", "title": "When do you plan to buy?", "type": "short_text"}
    )
    settings = {"field_map": {"When do you plan to buy?": "timeframe_days", "what_we_need": "need"}}
    (lead,) = PROVIDER.parse(request(orjson.dumps(body)), source(settings)).leads
    assert lead.fields["When do you plan to buy?"] == "6-12 months"
    assert lead.fields["what_we_need"] == "Lead routing"


def test_partial_responses_are_acknowledged_without_a_lead() -> None:
    body = delivery()
    body["event_type"] = "form_response_partial"
    assert PROVIDER.parse(request(orjson.dumps(body)), source()).leads == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"event_type": "form_response"}',
        b'{"event_type": "form_response", "form_response": {"answers": {}}}',
        b'{"form_response": {"answers": [{"type": "text", "text": "x"}]}}',
    ],
)
def test_what_typeform_never_sends_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayload):
        PROVIDER.parse(request(body), source())


# --- through the webhook route --------------------------------------------------------


async def post(ingest: IngestHarness, body: dict[str, Any], secret: str = SECRET) -> Any:
    raw = orjson.dumps(body)
    return await ingest.post("tf", raw, signed(raw, secret))


async def test_a_signed_response_becomes_one_normalised_lead(ingest: IngestHarness) -> None:
    await ingest.put_source("tf", "typeform", secrets={"secret": SECRET})
    response = await post(ingest, delivery())
    assert response.status_code == 200, response.text

    (found,) = await ingest.leads_by_email("lian.schmidt@example.com")
    lead = found["lead"]
    assert lead["email"] == "lian.schmidt@example.com"
    assert lead["phone"] == "+4930901820"
    assert (lead["first_name"], lead["last_name"]) == ("Lian", "Schmidt")
    assert lead["provider"] == "typeform"
    assert lead["source"] == "tf"
    assert lead["utm"]["utm_source"] == "newsletter"
    assert [d["external_id"] for d in found["deliveries"]] == [RESPONSE_TOKEN]

    # Typeform redelivers the same response: nothing new.
    assert (await post(ingest, delivery())).status_code == 200
    (again,) = await ingest.leads_by_email("lian.schmidt@example.com")
    assert len(again["deliveries"]) == 1
    assert len([d for d in await ingest.deliveries() if d["source"] == "tf"]) == 1


async def test_the_same_person_from_typeform_and_google_ads_is_one_lead(
    ingest: IngestHarness,
) -> None:
    await ingest.put_source("tf", "typeform", secrets={"secret": SECRET})
    await ingest.put_source("gads", "google-ads", secrets={"google_key": "gk-123"})
    assert (await post(ingest, delivery())).status_code == 200
    google = {
        "lead_id": "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "api_version": "1.0",
        "form_id": 40000000000,
        "campaign_id": 1234567890,
        "google_key": "gk-123",
        "is_test": False,
        "user_column_data": [
            {
                "column_name": "User Email",
                "string_value": "lian.schmidt@example.com",
                "column_id": "EMAIL",
            },
            {
                "column_name": "Company Name",
                "string_value": "Acme GmbH",
                "column_id": "COMPANY_NAME",
            },
        ],
    }
    response = await ingest.post("gads", orjson.dumps(google))
    assert response.status_code == 200, response.text

    (found,) = await ingest.leads_by_email("lian.schmidt@example.com")
    assert sorted(d["source"] for d in found["deliveries"]) == ["gads", "tf"]
    assert found["lead"]["company"] == "Acme GmbH"  # the gap was filled
    assert found["lead"]["source"] == "tf"  # the first source keeps the attribution


async def test_refusals_are_problem_json(ingest: IngestHarness) -> None:
    await ingest.put_source("tf", "typeform", secrets={"secret": SECRET})
    raw = orjson.dumps(delivery())

    for headers in ({}, signed(raw, "wrong-secret"), {"Typeform-Signature": "garbage"}):
        refused = await ingest.post("tf", raw, headers)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert SECRET not in refused.text

    malformed = b'{"event_type": "form_response", "form_response": '
    bad = await ingest.post("tf", malformed, signed(malformed))
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"

    wrong_type = await ingest.post("tf", raw, signed(raw), content_type="text/plain")
    assert wrong_type.status_code == 415

    no_contact = delivery(email="not an address", phone="call me maybe")
    unusable = await post(ingest, no_contact)
    assert unusable.status_code == 422
    assert unusable.headers["content-type"] == "application/problem+json"
    assert {"email", "phone"} <= {e["field"] for e in unusable.json()["errors"]}
    assert await ingest.leads_by_email("lian.schmidt@example.com") == []


async def test_both_secrets_are_accepted_during_a_rotation(ingest: IngestHarness) -> None:
    await ingest.put_source("tf", "typeform", secrets={"secret": ["old-secret", SECRET]})
    first = await post(ingest, delivery(token="t-old"), secret="old-secret")
    other = delivery(token="t-new", email="b@example.com", phone="+44 20 7946 0958")
    second = await post(ingest, other, secret=SECRET)
    assert (first.status_code, second.status_code) == (200, 200)
    assert await ingest.leads_by_email("lian.schmidt@example.com")
    assert await ingest.leads_by_email("b@example.com")


async def test_typed_answers_reach_the_lead_fields(ingest: IngestHarness) -> None:
    await ingest.put_source(
        "tf",
        "typeform",
        secrets={"secret": SECRET},
        settings={"field_map": {"When do you plan to buy?": "timeframe_days"}},
    )
    extra: list[dict[str, Any]] = [
        {
            "type": "choices",
            "choices": {"labels": ["CRM", "Routing"]},
            "field": {"id": "c1", "type": "multiple_choice", "ref": "product_interest"},
        },
        {
            "type": "boolean",
            "boolean": True,
            "field": {"id": "c2", "type": "yes_no", "ref": "call_me"},
        },
        {
            "type": "number",
            "number": 250,
            "field": {"id": "c3", "type": "number", "ref": "company_size"},
        },
        {
            "type": "choice",
            "choice": {"label": "Within 3 months"},
            "field": {
                "id": "c4",
                "type": "multiple_choice",
                "ref": "1b2c3d4e-0000-4000-8000-00000000000a",
            },
        },
        {
            "type": "choice",
            "choice": {"label": "Enterprise"},
            "field": {"id": "c5", "type": "dropdown", "ref": "plan"},
        },
    ]
    body = delivery(
        answers=extra, hidden={"utm_source": "google", "utm_medium": "cpc", "gclid": "Cj0KCQ"}
    )
    body["form_response"]["definition"]["fields"].append(
        {"id": "c4", "title": "When do you plan to buy?", "type": "multiple_choice"}
    )
    assert (await post(ingest, body)).status_code == 200

    (found,) = await ingest.leads_by_email("lian.schmidt@example.com")
    lead = found["lead"]
    assert lead["product_interest"] == ["CRM", "Routing"]
    assert lead["asked_to_be_contacted"] is True
    assert lead["employees"] == 250
    assert lead["timeframe_days"] == 90
    assert lead["answers"]["plan"] == "Enterprise"
    assert lead["utm"] == {"utm_source": "google", "utm_medium": "cpc", "gclid": "Cj0KCQ"}
