"""google-ads: the lead form webhook, authenticated by `google_key` in the body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ingest.providers.base import BadPayload, Source, Unauthorized, WebhookRequest
from ingest.providers.google_ads import PROVIDER
from tests.backends import ADMIN
from tests.scenarios.ingest import IngestHarness

KEY = "gk-0123456789abcdef"
BIG = 9007199254740993  # 2**53 + 1: a float would make it ...992
BIGGEST = 2**63 - 1


def lead(
    lead_id: str = "Cj0KCQjwit_8BRCoARIsAIx3Rj7g-AeL6z35IWb6VYiZUygtTfwD3hDlgSGmY",
    key: str = KEY,
    email: str = "Jane.Doe@Example.com",
    phone: str = "+1 415 555 0132",
    is_test: bool = False,
    columns: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A delivery in the documented shape (developers.google.com/google-ads/webhook)."""
    return {
        "lead_id": lead_id,
        "api_version": "1.0",
        "form_id": BIG,
        "campaign_id": BIGGEST,
        "adgroup_id": 123456789012,
        "creative_id": 98765432101,
        "google_key": key,
        "is_test": is_test,
        "gcl_id": "Cj0KCQjwit_8BRCoARIsAIx3Rj7g",
        "user_column_data": columns
        if columns is not None
        else [
            {"column_name": "Full Name", "string_value": "jane doe", "column_id": "FULL_NAME"},
            {"column_name": "User Email", "string_value": email, "column_id": "EMAIL"},
            {"column_name": "User Phone", "string_value": phone, "column_id": "PHONE_NUMBER"},
            {
                "column_name": "Company Name",
                "string_value": "Acme Inc",
                "column_id": "COMPANY_NAME",
            },
            {"column_name": "Job Title", "string_value": "Head of Sales", "column_id": "JOB_TITLE"},
            {"column_name": "Country", "string_value": "United States", "column_id": "COUNTRY"},
            {"column_name": "Postal Code", "string_value": "94105", "column_id": "POSTAL_CODE"},
            {
                "column_name": "How many seats do you need?",
                "string_value": "50",
                "column_id": "SEATS_QUESTION",
            },
        ],
    }


def source(settings: dict[str, Any] | None = None, keys: tuple[str, ...] = (KEY,)) -> Source:
    return Source(
        name="gads",
        provider="google-ads",
        secrets={"google_key": keys},
        settings=settings or {"field_map": {}},
        api_base_url=None,
        source_class="marketing",
        campaign=None,
    )


def request(body: bytes) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="http://lf/ingest/v1/webhooks/gads",
        headers={"content-type": "application/json"},
        query={},
        body=body,
        content_type="application/json",
        received_at=datetime.now(UTC),
    )


# --- the adapter alone ----------------------------------------------------------------


def test_google_key_is_checked_against_every_key_in_a_rotation() -> None:
    rotating = source(keys=("old-key", KEY))
    PROVIDER.verify(request(orjson.dumps(lead(key="old-key"))), rotating)
    PROVIDER.verify(request(orjson.dumps(lead(key=KEY))), rotating)
    with pytest.raises(Unauthorized, match="does not match"):
        PROVIDER.verify(request(orjson.dumps(lead(key="guess"))), rotating)
    without = lead()
    del without["google_key"]
    with pytest.raises(Unauthorized, match="missing"):
        PROVIDER.verify(request(orjson.dumps(without)), rotating)
    with pytest.raises(Unauthorized):
        PROVIDER.verify(request(b"[1, 2, 3]"), rotating)
    # JSON member names are case-sensitive: another spelling is another member, and the
    # key is missing.
    for spelling in ("Google_key", "GOOGLE_KEY", "google_Key"):
        spelled = lead()
        spelled[spelling] = spelled.pop("google_key")
        with pytest.raises(Unauthorized, match="missing"):
            PROVIDER.verify(request(orjson.dumps(spelled)), rotating)


def test_columns_map_to_lead_fields_and_ids_stay_exact() -> None:
    (raw,) = PROVIDER.parse(request(orjson.dumps(lead(is_test=True))), source()).leads
    assert raw.external_id == "Cj0KCQjwit_8BRCoARIsAIx3Rj7g-AeL6z35IWb6VYiZUygtTfwD3hDlgSGmY"
    assert raw.is_test is True
    assert raw.click_ids == {"gclid": "Cj0KCQjwit_8BRCoARIsAIx3Rj7g"}
    assert raw.fields == {
        "full_name": "jane doe",
        "email": "Jane.Doe@Example.com",
        "phone": "+1 415 555 0132",
        "company": "Acme Inc",
        "job_title": "Head of Sales",
        "country": "United States",
        "postal_code": "94105",
        "How many seats do you need?": "50",
        "google_ads_form_id": "9007199254740993",
        "google_ads_campaign_id": "9223372036854775807",
        "google_ads_adgroup_id": "123456789012",
        "google_ads_creative_id": "98765432101",
    }


def test_ids_in_the_proto3_json_form_are_accepted_and_floats_refused() -> None:
    as_strings = lead()
    as_strings["form_id"] = str(BIG)
    (raw,) = PROVIDER.parse(request(orjson.dumps(as_strings)), source()).leads
    assert raw.fields["google_ads_form_id"] == "9007199254740993"
    for bad in (9.007199254740992e15, "12ab", 2**63, True):
        broken = lead()
        broken["campaign_id"] = bad
        with pytest.raises(BadPayload, match="campaign_id"):
            PROVIDER.parse(request(orjson.dumps(broken)), source())


def test_field_map_names_columns_by_id_or_question() -> None:
    columns = [
        {"column_name": "Work email", "string_value": "j@acme.example", "column_id": "WORK_EMAIL"},
        {
            "column_name": "When do you plan to buy?",
            "string_value": "next year",
            "column_id": "PURCHASE_TIMELINE",
        },
        {"column_name": "Budget", "string_value": "yes", "column_id": "BUDGET_Q"},
    ]
    settings = {
        "field_map": {"When do you plan to buy?": "timeframe_days", "BUDGET_Q": "has_budget"}
    }
    (raw,) = PROVIDER.parse(request(orjson.dumps(lead(columns=columns))), source(settings)).leads
    assert raw.fields["work_email"] == "j@acme.example"
    assert raw.fields["When do you plan to buy?"] == "next year"
    assert raw.fields["BUDGET_Q"] == "yes"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"google_key": "x", "user_column_data": []}',
        b'{"lead_id": "l1", "user_column_data": {}}',
        b'{"lead_id": "l1", "user_column_data": [{"string_value": 5, "column_id": "EMAIL"}]}',
        b'{"lead_id": "l1", "user_column_data": [], "is_test": "yes"}',
    ],
)
def test_what_google_never_sends_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayload):
        PROVIDER.parse(request(body), source())


# --- through the webhook route --------------------------------------------------------


async def post(ingest: IngestHarness, body: dict[str, Any]) -> Any:
    return await ingest.post("gads", orjson.dumps(body))


async def test_a_lead_becomes_one_normalised_lead_once(ingest: IngestHarness) -> None:
    await ingest.put_source("gads", "google-ads", secrets={"google_key": KEY})
    response = await post(ingest, lead())
    assert response.status_code == 200, response.text

    (found,) = await ingest.leads_by_email("jane.doe@example.com")
    profile = found["lead"]
    assert profile["phone"] == "+14155550132"
    assert (profile["first_name"], profile["last_name"]) == ("Jane", "Doe")
    assert profile["company"] == "Acme Inc"
    assert profile["country"] == "US"
    assert profile["provider"] == "google-ads"
    assert profile["is_test"] is False
    assert profile["utm"]["gclid"] == "Cj0KCQjwit_8BRCoARIsAIx3Rj7g"
    assert profile["answers"]["google_ads_form_id"] == "9007199254740993"
    assert profile["answers"]["google_ads_campaign_id"] == "9223372036854775807"
    assert profile["answers"]["How many seats do you need?"] == "50"

    # Google retries the same lead_id: nothing new.
    assert (await post(ingest, lead())).status_code == 200
    (again,) = await ingest.leads_by_email("jane.doe@example.com")
    assert len(again["deliveries"]) == 1
    assert len([d for d in await ingest.deliveries() if d["source"] == "gads"]) == 1


async def test_test_leads_are_stored_flagged(ingest: IngestHarness) -> None:
    await ingest.put_source("gads", "google-ads", secrets={"google_key": KEY})
    assert (await post(ingest, lead(is_test=True))).status_code == 200
    (found,) = await ingest.leads_by_email("jane.doe@example.com")
    assert found["lead"]["is_test"] is True


async def test_the_same_person_from_google_ads_and_the_api_is_one_lead(
    ingest: IngestHarness,
) -> None:
    await ingest.put_source("gads", "google-ads", secrets={"google_key": KEY})
    api = await ingest.http.post(
        "/ingest/v1/leads",
        json={"email": "jane.doe@example.com", "website": "https://acme.example"},
        headers=ADMIN,
    )
    assert api.status_code == 202, api.text
    assert (await post(ingest, lead())).status_code == 200

    (found,) = await ingest.leads_by_email("jane.doe@example.com")
    assert sorted(d["source"] for d in found["deliveries"]) == ["api", "gads"]
    assert found["lead"]["phone"] == "+14155550132"  # the gap was filled


async def test_refusals_are_problem_json(ingest: IngestHarness) -> None:
    await ingest.put_source("gads", "google-ads", secrets={"google_key": KEY})
    without = lead()
    del without["google_key"]
    for body in (lead(key="wrong-key"), without):
        refused = await post(ingest, body)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert KEY not in refused.text

    malformed = await ingest.post("gads", b'{"lead_id": "x", "google_key": ')
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"

    wrong_type = await ingest.post(
        "gads", orjson.dumps(lead()), content_type="application/x-www-form-urlencoded"
    )
    assert wrong_type.status_code == 415

    unusable = await post(ingest, lead(email="jane at example", phone="n/a"))
    assert unusable.status_code == 422
    assert {"email", "phone"} <= {e["field"] for e in unusable.json()["errors"]}


async def test_both_keys_are_accepted_during_a_rotation(ingest: IngestHarness) -> None:
    await ingest.put_source("gads", "google-ads", secrets={"google_key": ["old-key", KEY]})
    first = await post(ingest, lead(lead_id="l-old", key="old-key"))
    second = await post(
        ingest, lead(lead_id="l-new", key=KEY, email="b@example.com", phone="+44 20 7946 0958")
    )
    assert (first.status_code, second.status_code) == (200, 200)
    assert await ingest.leads_by_email("jane.doe@example.com")
    assert await ingest.leads_by_email("b@example.com")
