"""gravity-forms: a Webhooks Add-On feed posting the entry, with `Authorization: Bearer`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from ingest.providers.base import BadPayload, Source, Unauthorized, WebhookRequest
from ingest.providers.gravity_forms import PROVIDER, recognised
from tests.backends import ADMIN
from tests.scenarios.ingest import IngestHarness

TOKEN = "gf-token-0123456789abcdef"
FIELD_MAP = {"1.3": "first_name", "1.6": "last_name", "2": "email", "3": "phone", "4": "company"}


def entry(
    entry_id: str = "1187",
    email: str = "Ana.Lopez@Example.es",
    phone: str = "+34 912 345 678",
) -> dict[str, Any]:
    """The Entry Object a feed sends with Request Body "All Fields" (values are strings)."""
    return {
        "id": entry_id,
        "form_id": "3",
        "post_id": None,
        "date_created": "2026-05-04 09:12:44",
        "date_updated": "2026-05-04 09:12:44",
        "is_starred": "0",
        "is_read": "0",
        "ip": "198.51.100.23",
        "source_url": "https://www.example.es/demo/?utm_source=google&utm_medium=cpc&gclid=EAIa1",
        "user_agent": "Mozilla/5.0",
        "currency": "EUR",
        "payment_status": None,
        "created_by": None,
        "status": "active",
        "1.3": "ana",
        "1.6": "LÓPEZ",
        "2": email,
        "3": phone,
        "4": "Sol Energía SL",
        "5": "We need routing for 12 reps",
        "6.1": "",
    }


def source(settings: dict[str, Any] | None = None, tokens: tuple[str, ...] = (TOKEN,)) -> Source:
    return Source(
        name="gf",
        provider="gravity-forms",
        secrets={"token": tokens},
        settings=settings if settings is not None else {"field_map": FIELD_MAP},
        api_base_url=None,
        source_class="marketing",
        campaign=None,
    )


def request(
    body: bytes, authorization: str | None = None, content_type: str = "application/json"
) -> WebhookRequest:
    headers = {"authorization": authorization} if authorization else {}
    return WebhookRequest(
        method="POST",
        url="http://lf/ingest/v1/webhooks/gf",
        headers=headers,
        query={},
        body=body,
        content_type=content_type,
        received_at=datetime.now(UTC),
    )


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the adapter alone ----------------------------------------------------------------


def test_the_bearer_token_is_checked_against_every_token_in_a_rotation() -> None:
    body = orjson.dumps(entry())
    rotating = source(tokens=("old-token", TOKEN))
    PROVIDER.verify(request(body, "Bearer old-token"), rotating)
    PROVIDER.verify(request(body, f"Bearer {TOKEN}"), rotating)
    with pytest.raises(Unauthorized, match="does not match"):
        PROVIDER.verify(request(body, "Bearer guess"), rotating)
    with pytest.raises(Unauthorized, match="missing"):
        PROVIDER.verify(request(body), rotating)
    with pytest.raises(Unauthorized):
        PROVIDER.verify(request(body, f"Basic {TOKEN}"), rotating)


def test_the_entry_becomes_fields_without_its_bookkeeping() -> None:
    (lead,) = PROVIDER.parse(request(orjson.dumps(entry())), source()).leads
    assert lead.external_id == "1187"
    assert lead.fields == {
        "form_id": "3",
        "date_created": "2026-05-04 09:12:44",
        "source_url": "https://www.example.es/demo/?utm_source=google&utm_medium=cpc&gclid=EAIa1",
        "1.3": "ana",
        "1.6": "LÓPEZ",
        "2": "Ana.Lopez@Example.es",
        "3": "+34 912 345 678",
        "4": "Sol Energía SL",
        "5": "We need routing for 12 reps",
    }
    assert lead.utm == {"utm_source": "google", "utm_medium": "cpc"}
    assert lead.click_ids == {"gclid": "EAIa1"}


def test_an_integer_entry_id_is_the_external_id_too() -> None:
    body = {**entry(), "id": 1187, "form_id": 3}
    (lead,) = PROVIDER.parse(request(orjson.dumps(body)), source()).leads
    assert lead.external_id == "1187"
    assert lead.fields["form_id"] == "3"


def test_form_bodies_are_read_too() -> None:
    body = urlencode({k: v for k, v in entry().items() if v is not None}).encode()
    form = request(body, content_type="application/x-www-form-urlencoded")
    (lead,) = PROVIDER.parse(form, source()).leads
    assert lead.external_id == "1187"
    assert lead.fields["2"] == "Ana.Lopez@Example.es"


def test_a_body_that_is_not_an_entry_is_a_bad_payload() -> None:
    with pytest.raises(BadPayload):
        PROVIDER.parse(request(b"{not json"), source())
    with pytest.raises(BadPayload):
        PROVIDER.parse(request(b'["a", "b"]'), source())


# --- through the webhook route --------------------------------------------------------


async def test_an_entry_becomes_one_normalised_lead_once(ingest: IngestHarness) -> None:
    await ingest.put_source(
        "gf", "gravity-forms", secrets={"token": TOKEN}, settings={"field_map": FIELD_MAP}
    )
    response = await ingest.post("gf", orjson.dumps(entry()), bearer())
    assert response.status_code == 200, response.text

    (found,) = await ingest.leads_by_email("ana.lopez@example.es")
    lead = found["lead"]
    assert lead["phone"] == "+34912345678"
    assert (lead["first_name"], lead["last_name"]) == ("Ana", "López")
    assert lead["company"] == "Sol Energía SL"
    assert lead["utm"] == {"utm_source": "google", "utm_medium": "cpc", "gclid": "EAIa1"}
    assert lead["answers"]["5"] == "We need routing for 12 reps"
    assert "ip" not in lead["answers"]

    # The feed fires again for the same entry: nothing new.
    assert (await ingest.post("gf", orjson.dumps(entry()), bearer())).status_code == 200
    (again,) = await ingest.leads_by_email("ana.lopez@example.es")
    assert len(again["deliveries"]) == 1
    assert len([d for d in await ingest.deliveries() if d["source"] == "gf"]) == 1


async def test_without_a_field_map_the_email_phone_and_name_inputs_are_recognised(
    ingest: IngestHarness,
) -> None:
    await ingest.put_source("gf", "gravity-forms", secrets={"token": TOKEN})
    body = {**entry(), "1.2": "", "1.4": "", "1.8": "", "7.1": "Calle Mayor 1", "7.3": "Madrid"}
    body |= {"7.5": "28013", "7.6": "Spain", "8": "2026-05-04", "9": "1500000"}
    response = await ingest.post("gf", orjson.dumps(body), bearer())
    assert response.status_code == 200, response.text

    (found,) = await ingest.leads_by_email("ana.lopez@example.es")
    lead = found["lead"]
    assert lead["phone"] == "+34912345678"
    assert (lead["first_name"], lead["last_name"]) == ("Ana", "López")
    # An address's .3/.6, a date and a plain number are not names or phones.
    assert lead["answers"]["7.3"] == "Madrid"
    assert lead["answers"]["7.6"] == "Spain"
    assert lead["answers"]["8"] == "2026-05-04"
    assert lead["answers"]["9"] == "1500000"


def test_recognition_leaves_what_the_field_map_names_and_other_shapes_alone() -> None:
    fields = {"1.3": "Ana", "1.6": "López", "2": "ana@example.es", "3": "(555) 123-4567"}
    assert recognised(fields, {}) == {
        "1.3": "first_name",
        "1.6": "last_name",
        "2": "email",
        "3": "phone",
    }
    # The source's field_map decides for the ids and lead fields it names.
    assert recognised(fields, {"3": "company", "9": "email"}) == {
        "1.3": "first_name",
        "1.6": "last_name",
    }
    # Products (.1 .2 .3), addresses (.1 ... .6) and checkboxes are not Name fields; a
    # second email address is an answer; plain numbers and dates are not phones.
    others = {
        "1.1": "Widget",
        "1.2": "$10.00",
        "1.3": "2",
        "2.3": "Madrid",
        "2.5": "28013",
        "2.6": "Spain",
        "3": "a@example.es",
        "4": "b@example.es",
        "5": "1500000",
        "6": "05.04.2026",
        "7": "not an address@",
    }
    assert recognised(others, {}) == {"3": "email"}


async def test_an_entry_still_unusable_is_refused_naming_the_field_map_to_set(
    ingest: IngestHarness,
) -> None:
    await ingest.put_source("gf", "gravity-forms", secrets={"token": TOKEN})
    body = orjson.dumps(entry(email="ana at example", phone="-"))
    response = await ingest.post("gf", body, bearer())
    assert response.status_code == 422
    assert {"email", "phone"} <= {e["field"] for e in response.json()["errors"]}
    detail = response.json()["detail"]
    assert 'settings.field_map, e.g. {"2":"email","3":"phone"}' in detail, detail
    assert "1.3, 1.6, 2, 3, 4, 5" in detail, detail


async def test_the_same_person_from_gravity_forms_and_the_api_is_one_lead(
    ingest: IngestHarness,
) -> None:
    await ingest.put_source(
        "gf", "gravity-forms", secrets={"token": TOKEN}, settings={"field_map": FIELD_MAP}
    )
    api = await ingest.http.post(
        "/ingest/v1/leads",
        json={"email": "ana.lopez@example.es", "job_title": "COO"},
        headers=ADMIN,
    )
    assert api.status_code == 202, api.text
    assert (await ingest.post("gf", orjson.dumps(entry()), bearer())).status_code == 200

    (found,) = await ingest.leads_by_email("ana.lopez@example.es")
    assert sorted(d["source"] for d in found["deliveries"]) == ["api", "gf"]
    assert found["lead"]["phone"] == "+34912345678"


async def test_refusals_are_problem_json(ingest: IngestHarness) -> None:
    await ingest.put_source(
        "gf", "gravity-forms", secrets={"token": TOKEN}, settings={"field_map": FIELD_MAP}
    )
    body = orjson.dumps(entry())
    for headers in ({}, bearer("guess"), {"Authorization": TOKEN}):
        refused = await ingest.post("gf", body, headers)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert TOKEN not in refused.text

    malformed = await ingest.post("gf", b'{"id": "1", "2": ', bearer())
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"

    wrong_type = await ingest.post("gf", body, bearer(), content_type="text/xml")
    assert wrong_type.status_code == 415

    unusable = await ingest.post(
        "gf", orjson.dumps(entry(email="ana at example", phone="-")), bearer()
    )
    assert unusable.status_code == 422
    assert {"email", "phone"} <= {e["field"] for e in unusable.json()["errors"]}


async def test_both_tokens_are_accepted_during_a_rotation(ingest: IngestHarness) -> None:
    await ingest.put_source(
        "gf",
        "gravity-forms",
        secrets={"token": ["old-token", TOKEN]},
        settings={"field_map": FIELD_MAP},
    )
    first = await ingest.post("gf", orjson.dumps(entry()), bearer("old-token"))
    other = entry(entry_id="1188", email="b@example.es", phone="+49 30 901820")
    second = await ingest.post("gf", orjson.dumps(other), bearer(TOKEN))
    assert (first.status_code, second.status_code) == (200, 200)
    assert await ingest.leads_by_email("ana.lopez@example.es")
    assert await ingest.leads_by_email("b@example.es")
