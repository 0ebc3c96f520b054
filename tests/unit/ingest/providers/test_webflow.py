"""webflow: Webflow's `form_submission` webhook, signed with `x-webflow-signature`."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from ingest.providers.base import BadPayload, Source, Unauthorized, WebhookRequest
from ingest.providers.webflow import PROVIDER
from tests.backends import ADMIN
from tests.scenarios.ingest import IngestHarness

SECRET = "2b4acfd1c5518bf03c73a4889d197d77251353857c22694bf150b9e3402ba15f"
OLD_SECRET = "wf-client-secret-of-the-old-oauth-app"
NAME = "wf"


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers as Webflow computes them: hex HMAC-SHA256 of `<timestamp>:<raw body>`."""
    stamp = str(timestamp if timestamp is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"x-webflow-timestamp": stamp, "x-webflow-signature": digest}


def submission(
    submission_id: str = "6321ca84df3949bfc6752327",
    email: str = "Zaphod@HeartOfGold.example",
    phone: str | float = "+44 20 7946 0958",
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `form_submission` event in the documented v2 shape (working-with-webhooks)."""
    fields = data or {
        "First Name": "zaphod",
        "Last Name": "BEEBLEBROX",
        "Email 2": email,
        "Phone Number": phone,
        "Company": "Heart of Gold Ltd",
        "Message": "We need lead routing for 12 reps",
        "Budget approved": True,
    }
    return {
        "triggerType": "form_submission",
        "payload": {
            "name": "Contact Us",
            "siteId": "65427cf400e02b306eaa049c",
            "data": fields,
            "schema": [
                {
                    "fieldName": name,
                    "fieldType": "FormTextInput",
                    "fieldElementId": f"285042f7-d554-dc7f-102c-aa10d6a2d2c{i}",
                }
                for i, name in enumerate(fields)
            ],
            "submittedAt": "2022-09-14T12:35:16.117Z",
            "id": submission_id,
            "formId": "65429eadebe8a9f3a30f62d0",
            "formElementId": "4e038d2c-6a1e-4953-7be9-a59a2b453177",
        },
    }


def source(secrets: tuple[str, ...] = (SECRET,), settings: dict[str, Any] | None = None) -> Source:
    return Source(
        name=NAME,
        provider="webflow",
        secrets={"secret": secrets},
        settings={"field_map": {}, "max_clock_skew_s": 300, **(settings or {})},
        api_base_url=None,
        source_class="marketing",
        campaign=None,
    )


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=f"http://lf/ingest/v1/webhooks/{NAME}",
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query={},
        body=body,
        content_type="application/json",
        received_at=datetime.now(UTC),
    )


# --- the adapter alone ------------------------------------------------------------------


def test_the_signature_is_checked_against_every_secret_in_a_rotation() -> None:
    body = orjson.dumps(submission())
    rotating = source(secrets=(OLD_SECRET, SECRET))
    PROVIDER.verify(request(body, signed(body, OLD_SECRET)), rotating)
    PROVIDER.verify(request(body, signed(body, SECRET)), rotating)
    upper = {k: v.upper() for k, v in signed(body).items()}
    PROVIDER.verify(request(body, upper), rotating)  # hex is hex, whatever its case
    with pytest.raises(Unauthorized, match="does not match"):
        PROVIDER.verify(request(body, signed(body, "another-secret")), rotating)
    with pytest.raises(Unauthorized, match="does not match"):  # other bytes than were signed
        PROVIDER.verify(request(body + b"\n", signed(body)), rotating)
    stamp = int(time.time() * 1000)
    moved = {**signed(body, timestamp=stamp), "x-webflow-timestamp": str(stamp - 1)}
    with pytest.raises(Unauthorized, match="does not match"):  # the timestamp is signed too
        PROVIDER.verify(request(body, moved), rotating)
    with pytest.raises(Unauthorized, match="created in the dashboard"):
        PROVIDER.verify(request(body), rotating)
    no_time = {"x-webflow-signature": signed(body)["x-webflow-signature"]}
    with pytest.raises(Unauthorized, match="x-webflow-timestamp header is missing"):
        PROVIDER.verify(request(body, no_time), rotating)


def test_old_and_future_timestamps_are_refused() -> None:
    body = orjson.dumps(submission())
    now = int(time.time() * 1000)
    PROVIDER.verify(request(body, signed(body, timestamp=now - 200_000)), source())
    with pytest.raises(Unauthorized, match="expired"):
        PROVIDER.verify(request(body, signed(body, timestamp=now - 5 * 60_000 - 1000)), source())
    with pytest.raises(Unauthorized, match="in the future"):
        PROVIDER.verify(request(body, signed(body, timestamp=now + 10 * 60_000)), source())
    seconds = signed(body, timestamp=now // 1000)  # a timestamp in seconds is 56 years old
    with pytest.raises(Unauthorized, match="expired"):
        PROVIDER.verify(request(body, seconds), source())


def test_a_submission_is_one_lead_named_by_its_submission_id() -> None:
    body = submission(phone=15550000000)
    body["payload"]["data"] |= {"Interests": ["CRM", "Routing"], "Empty": "", "Nothing": None}
    (lead,) = PROVIDER.parse(request(orjson.dumps(body)), source()).leads
    assert lead.external_id == "6321ca84df3949bfc6752327"
    assert lead.fields == {
        "First Name": "zaphod",
        "Last Name": "BEEBLEBROX",
        "Email": "Zaphod@HeartOfGold.example",  # Webflow's "Email 2": the second email field
        "Phone Number": "15550000000",
        "Company": "Heart of Gold Ltd",
        "Message": "We need lead routing for 12 reps",
        "Budget approved": "true",
        "Interests": "CRM, Routing",
    }
    # A numbered field the source's field_map names keeps its name.
    mapped = source(settings={"field_map": {"Email 2": "email"}})
    (lead,) = PROVIDER.parse(request(orjson.dumps(submission())), mapped).leads
    assert "Email 2" in lead.fields


def test_other_triggers_are_acknowledged_without_a_lead() -> None:
    publish = {
        "triggerType": "site_publish",
        "payload": {"siteId": "65427cf400e02b306eaa049c", "publishedOn": "2024-07-30T20:07:15Z"},
    }
    parsed = PROVIDER.parse(request(orjson.dumps(publish)), source())
    assert (parsed.leads, parsed.fetches) == ([], [])


def test_the_v1_shape_is_still_understood() -> None:
    v1 = {
        "name": "Sample Form",
        "site": "62749158efef318abc8d5a0f",
        "data": {"name": "Some One", "email": "some.one@home.example"},
        "d": "2022-09-14T12:35:16.117Z",
        "_id": "6321ca84df3949bfc6752327",
    }
    (lead,) = PROVIDER.parse(request(orjson.dumps(v1)), source()).leads
    assert lead.external_id == "6321ca84df3949bfc6752327"
    assert lead.fields == {"name": "Some One", "email": "some.one@home.example"}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"payload": {"data": {"Email": "a@b.example"}, "id": "1"}}',
        b'{"triggerType": "form_submission"}',
        b'{"triggerType": "form_submission", "payload": {"id": "1"}}',
        b'{"triggerType": "form_submission", "payload": {"id": "1", "data": ["a@b.example"]}}',
        b'{"triggerType": "form_submission", "payload": {"data": {"Email": "a@b.example"}}}',
    ],
)
def test_what_webflow_never_sends_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayload):
        PROVIDER.parse(request(body), source())


# --- through the webhook route ------------------------------------------------------------


async def post(ingest: IngestHarness, body: Any, secret: str = SECRET) -> httpx.Response:
    raw = orjson.dumps(body)
    return await ingest.post(NAME, raw, signed(raw, secret))


async def test_a_signed_submission_becomes_one_normalised_lead(ingest: IngestHarness) -> None:
    await ingest.put_source(NAME, "webflow", secrets={"secret": SECRET})
    response = await post(ingest, submission())
    assert response.status_code == 200, response.text

    (found,) = await ingest.leads_by_email("zaphod@heartofgold.example")
    lead = found["lead"]
    assert lead["email"] == "zaphod@heartofgold.example"
    assert lead["phone"] == "+442079460958"
    assert (lead["first_name"], lead["last_name"]) == ("Zaphod", "Beeblebrox")
    assert lead["company"] == "Heart of Gold Ltd"
    assert lead["need"] == "We need lead routing for 12 reps"
    assert lead["has_budget"] is True  # "Budget approved" is a well-known name
    assert lead["answers"] == {}
    assert lead["provider"] == "webflow"
    assert lead["source"] == NAME
    assert [d["external_id"] for d in found["deliveries"]] == ["6321ca84df3949bfc6752327"]

    # Webflow retries the same submission: nothing new.
    assert (await post(ingest, submission())).status_code == 200
    (again,) = await ingest.leads_by_email("zaphod@heartofgold.example")
    assert len(again["deliveries"]) == 1
    assert len([d for d in await ingest.deliveries() if d["source"] == NAME]) == 1


async def test_a_phone_sent_as_a_json_number_is_normalised(ingest: IngestHarness) -> None:
    """Webflow sends a phone field as a JSON number: no "+" and no leading 0 fit in one, so
    its digits carry the country code. It is normalised, not left unparsed (with no
    country) or read as a national number of the lead's country (with one)."""
    await ingest.put_source(NAME, "webflow", secrets={"secret": SECRET})
    for index, (number, country) in enumerate(
        ((4915112345678, None), (4915112345678, "DE"), (4915112345678.0, None))
    ):
        body = submission(f"num-{index}", f"num{index}@heartofgold.example", phone=number)
        if country:
            body["payload"]["data"]["Country"] = country
        assert (await post(ingest, body)).status_code == 200
        (found,) = await ingest.leads_by_email(f"num{index}@heartofgold.example")
        assert (found["lead"]["phone"], found["lead"]["flags"]) == ("+4915112345678", [])
    # The generic API and Zapier read a number the same way.
    api = await ingest.http.post(
        "/ingest/v1/leads", json={"phone": 14155552671, "source": "web"}, headers=ADMIN
    )
    assert api.status_code == 202, api.text
    await ingest.put_source("zaps", "zapier", secrets={"token": "zap-token-1"})
    zap = await ingest.post(
        "zaps", b'{"id": "z-1", "phone": 14155552671.0}', {"Authorization": "Bearer zap-token-1"}
    )
    assert zap.status_code == 200, zap.text
    found = (
        await ingest.http.get("/ingest/v1/leads", params={"phone": "+14155552671"}, headers=ADMIN)
    ).json()
    assert [f["id"] for f in found] == [api.json()["lead_id"]]
    assert [d["source"] for d in found[0]["deliveries"]] == ["web", "zaps"]


async def test_the_same_person_from_webflow_and_zapier_is_one_lead(ingest: IngestHarness) -> None:
    await ingest.put_source(NAME, "webflow", secrets={"secret": SECRET})
    await ingest.put_source("zaps", "zapier", secrets={"token": "zap-token-1"})
    assert (await post(ingest, submission())).status_code == 200
    zap = await ingest.post(
        "zaps",
        orjson.dumps({"id": "zap-77", "email": "ZAPHOD@heartofgold.example", "title": "President"}),
        {"Authorization": "Bearer zap-token-1"},
    )
    assert zap.status_code == 200, zap.text

    (found,) = await ingest.leads_by_email("zaphod@heartofgold.example")
    assert sorted(d["source"] for d in found["deliveries"]) == ["wf", "zaps"]
    assert found["lead"]["job_title"] == "President"  # the gap was filled
    assert found["lead"]["source"] == NAME  # the first source keeps the attribution


async def test_refusals_are_problem_json(ingest: IngestHarness) -> None:
    await ingest.put_source(NAME, "webflow", secrets={"secret": SECRET})
    raw = orjson.dumps(submission())

    missing = await ingest.post(NAME, raw)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert "x-webflow-signature header is missing" in missing.json()["detail"]

    wrong = await ingest.post(NAME, raw, signed(raw, "not-the-secret"))
    assert wrong.status_code == 401
    assert "does not match" in wrong.json()["detail"]
    assert SECRET not in wrong.text

    stale = int(time.time() * 1000) - 6 * 60_000
    expired = await ingest.post(NAME, raw, signed(raw, timestamp=stale))
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]

    malformed = b'{"triggerType": "form_submission", "payload": '
    bad = await ingest.post(NAME, malformed, signed(malformed))
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"

    as_text = await ingest.post(NAME, raw, signed(raw), content_type="text/plain")
    assert as_text.status_code == 415

    no_contact = submission(email="zaphod at heart of gold", phone="")
    unusable = await post(ingest, no_contact)
    assert unusable.status_code == 422
    assert unusable.headers["content-type"] == "application/problem+json"
    assert {"email", "phone"} <= {e["field"] for e in unusable.json()["errors"]}

    publish = {"triggerType": "site_publish", "payload": {"siteId": "65427cf400e02b306eaa049c"}}
    assert (await post(ingest, publish)).status_code == 200
    assert [d for d in await ingest.deliveries() if d["source"] == NAME] == []


async def test_both_secrets_are_accepted_during_a_rotation(ingest: IngestHarness) -> None:
    await ingest.put_source(NAME, "webflow", secrets={"secret": [OLD_SECRET, SECRET]})
    first = await post(ingest, submission("s-old"), secret=OLD_SECRET)
    other = submission("s-new", email="trillian@example.org", phone="+44 20 7946 0000")
    second = await post(ingest, other, secret=SECRET)
    third = await post(ingest, submission("s-x", email="x@example.org"), secret="retired")
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 401)
    assert await ingest.leads_by_email("zaphod@heartofgold.example")
    assert await ingest.leads_by_email("trillian@example.org")
