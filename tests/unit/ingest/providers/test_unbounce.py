"""unbounce: the form-submit webhook (form fields with `data.json`), authenticated by a
`?token=` in the webhook URL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from ingest.providers.base import BadPayload, Source, Unauthorized, WebhookRequest
from ingest.providers.unbounce import PROVIDER
from tests.backends import ADMIN
from tests.scenarios.ingest import IngestHarness

TOKEN = "ub-token-0123456789abcdef"
FORM = "application/x-www-form-urlencoded"


def data(email: str = "Sam.OBrien@Example.org", phone: str = "+44 20 7946 0958") -> dict[str, Any]:
    """data.json as Unbounce documents it: every value a list, submission metadata added."""
    return {
        "first_name": ["sam"],
        "last_name": ["o'brien"],
        "email": [email],
        "phone_number": [phone],
        "company_name": ["Brightside Ltd"],
        "what_are_you_interested_in": ["Routing", "Nurture"],
        "utm_source": ["facebook"],
        "utm_campaign": ["spring"],
        "ip_address": ["203.0.113.7"],
        "page_uuid": ["a2838d98-4cf4-11df-a3fd-00163e372d58"],
        "variant": ["a"],
        "time_submitted": ["10:57 PM UTC"],
        "date_submitted": ["2026-06-06"],
        "page_url": ["http://unbouncepages.com/spring/"],
        "page_name": ["Spring launch"],
    }


def submission(fields: dict[str, Any] | None = None, **overrides: str) -> bytes:
    values = {
        "data.json": orjson.dumps(fields if fields is not None else data()).decode(),
        "data.xml": '<?xml version="1.0"?><form_data></form_data>',
        "page_id": "a2838d98-4cf4-11df-a3fd-00163e372d58",
        "page_name": "Spring launch",
        "page_url": "http://unbouncepages.com/spring/",
        "variant": "a",
        **overrides,
    }
    return urlencode(values).encode()


def source(tokens: tuple[str, ...] = (TOKEN,)) -> Source:
    return Source(
        name="ub",
        provider="unbounce",
        secrets={"token": tokens},
        settings={"field_map": {}},
        api_base_url=None,
        source_class="marketing",
        campaign=None,
    )


def request(body: bytes, query: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url="http://lf/ingest/v1/webhooks/ub?" + urlencode(query or {}),
        headers={"content-type": FORM},
        query=query or {},
        body=body,
        content_type=FORM,
        received_at=datetime.now(UTC),
    )


# --- the adapter alone ----------------------------------------------------------------


def test_the_token_is_checked_against_every_token_in_a_rotation() -> None:
    rotating = source(("old-token", TOKEN))
    PROVIDER.verify(request(submission(), {"token": "old-token"}), rotating)
    PROVIDER.verify(request(submission(), {"token": TOKEN}), rotating)
    with pytest.raises(Unauthorized, match="does not match"):
        PROVIDER.verify(request(submission(), {"token": "guess"}), rotating)
    with pytest.raises(Unauthorized, match="missing"):
        PROVIDER.verify(request(submission()), rotating)


def test_data_json_becomes_fields_and_a_stable_external_id() -> None:
    (lead,) = PROVIDER.parse(request(submission()), source()).leads
    assert lead.fields == {
        "first_name": "sam",
        "last_name": "o'brien",
        "email": "Sam.OBrien@Example.org",
        "phone_number": "+44 20 7946 0958",
        "company_name": "Brightside Ltd",
        "what_are_you_interested_in": "Routing, Nurture",
        "utm_source": "facebook",
        "utm_campaign": "spring",
        "variant": "a",
        "page_name": "Spring launch",
    }
    assert lead.external_id is not None
    assert lead.external_id.startswith("unbounce:")

    # The same submission, serialised in another order: the same id.
    reordered = dict(reversed(list(data().items())))
    (again,) = PROVIDER.parse(request(submission(reordered)), source()).leads
    assert again.external_id == lead.external_id
    # Another submission (another minute): another id.
    later = {**data(), "time_submitted": ["10:58 PM UTC"]}
    (other,) = PROVIDER.parse(request(submission(later)), source()).leads
    assert other.external_id != lead.external_id


def test_multipart_bodies_are_read_too() -> None:
    boundary = "----unbounce"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("data.json", orjson.dumps(data()).decode()), ("page_id", "p1"))
    )
    body = (parts + f"--{boundary}--\r\n").encode()
    multipart = WebhookRequest(
        method="POST",
        url="http://lf/ingest/v1/webhooks/ub",
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        query={},
        body=body,
        content_type="multipart/form-data",
        received_at=datetime.now(UTC),
    )
    (lead,) = PROVIDER.parse(multipart, source()).leads
    assert lead.fields["email"] == "Sam.OBrien@Example.org"


@pytest.mark.parametrize(
    "body",
    [
        b"page_id=p1&page_name=x",
        urlencode({"data.json": "{not json"}).encode(),
        urlencode({"data.json": "[1, 2]"}).encode(),
    ],
)
def test_a_missing_or_broken_data_json_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayload, match=r"data\.json"):
        PROVIDER.parse(request(body), source())


# --- through the webhook route --------------------------------------------------------


async def post(ingest: IngestHarness, body: bytes, token: str = TOKEN) -> Any:
    return await ingest.post("ub", body, content_type=FORM, query=urlencode({"token": token}))


async def test_a_submission_becomes_one_normalised_lead_once(ingest: IngestHarness) -> None:
    await ingest.put_source("ub", "unbounce", secrets={"token": TOKEN})
    response = await post(ingest, submission())
    assert response.status_code == 200, response.text

    (found,) = await ingest.leads_by_email("sam.obrien@example.org")
    lead = found["lead"]
    assert lead["phone"] == "+442079460958"
    assert (lead["first_name"], lead["last_name"]) == ("Sam", "O'Brien")
    assert lead["company"] == "Brightside Ltd"
    assert lead["utm"] == {"utm_source": "facebook", "utm_campaign": "spring"}
    assert lead["answers"]["what_are_you_interested_in"] == "Routing, Nurture"
    assert "ip_address" not in lead["answers"]

    # Unbounce posts the same submission again: nothing new.
    assert (await post(ingest, submission())).status_code == 200
    (again,) = await ingest.leads_by_email("sam.obrien@example.org")
    assert len(again["deliveries"]) == 1
    assert len([d for d in await ingest.deliveries() if d["source"] == "ub"]) == 1


async def test_the_same_person_from_unbounce_and_the_api_is_one_lead(
    ingest: IngestHarness,
) -> None:
    await ingest.put_source("ub", "unbounce", secrets={"token": TOKEN})
    assert (await post(ingest, submission())).status_code == 200
    api = await ingest.http.post(
        "/ingest/v1/leads",
        json={"phone": "020 7946 0958", "country": "GB", "job_title": "CTO"},
        headers=ADMIN,
    )
    assert api.status_code == 202, api.text

    (found,) = await ingest.leads_by_email("sam.obrien@example.org")
    assert sorted(d["source"] for d in found["deliveries"]) == ["api", "ub"]
    assert found["lead"]["job_title"] == "CTO"


async def test_refusals_are_problem_json(ingest: IngestHarness) -> None:
    await ingest.put_source("ub", "unbounce", secrets={"token": TOKEN})
    wrong = await post(ingest, submission(), token="guess")
    missing = await ingest.post("ub", submission(), content_type=FORM)
    for refused in (wrong, missing):
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert TOKEN not in refused.text

    malformed = await post(ingest, urlencode({"data.json": '{"email": ['}).encode())
    assert malformed.status_code == 400
    assert "data.json" in malformed.json()["detail"]
    no_data = await post(ingest, b"page_id=p1")
    assert no_data.status_code == 400

    wrong_type = await ingest.post("ub", orjson.dumps(data()), query=urlencode({"token": TOKEN}))
    assert wrong_type.status_code == 415

    unusable = await post(ingest, submission(data(email="sam(at)example", phone="ask me")))
    assert unusable.status_code == 422
    assert {"email", "phone"} <= {e["field"] for e in unusable.json()["errors"]}


async def test_both_tokens_are_accepted_during_a_rotation(ingest: IngestHarness) -> None:
    await ingest.put_source("ub", "unbounce", secrets={"token": ["old-token", TOKEN]})
    first = await post(ingest, submission(), token="old-token")
    other = data(email="b@example.org", phone="+49 30 901820")
    second = await post(ingest, submission(other), token=TOKEN)
    assert (first.status_code, second.status_code) == (200, 200)
    assert await ingest.leads_by_email("sam.obrien@example.org")
    assert await ingest.leads_by_email("b@example.org")
