"""The webhook route, sources, identity and the generic API, shown with the `form` and
`zapier` providers (every provider goes through the same route)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.backends import ADMIN, EmbeddedBackend, eventually
from tests.scenarios.ingest import IngestHarness

ZAP = {"token": "zap-token-1"}
BEARER = {"Authorization": "Bearer zap-token-1"}


def rejections(source: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "leadfarm_ingest_rejections_total", {"source": source, "reason": reason}
        )
        or 0.0
    )


# --- sources ------------------------------------------------------------------------------


async def test_a_source_is_created_read_back_masked_and_replaced(ingest: IngestHarness) -> None:
    created = await ingest.http.put(
        "/ingest/v1/sources/zaps",
        json={
            "provider": "zapier",
            "secrets": {"token": ["old-token", "new-token"]},
            "source_class": "events",
            "campaign": "expo-2026",
        },
        headers=ADMIN,
    )
    assert created.status_code == 201
    read = (await ingest.http.get("/ingest/v1/sources/zaps", headers=ADMIN)).json()
    assert read["secrets"] == {"token": ["********", "********"]}
    assert read["webhook_path"] == "/ingest/v1/webhooks/zaps"
    assert "old-token" not in json.dumps(read)
    replaced = await ingest.http.put(
        "/ingest/v1/sources/zaps",
        json={"provider": "zapier", "secrets": {"token": "t2"}},
        headers=ADMIN,
    )
    assert replaced.status_code == 200
    listed = (await ingest.http.get("/ingest/v1/sources", headers=ADMIN)).json()
    assert [s["name"] for s in listed] == ["zaps"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"provider": "carrier-pigeon"}, "provider", "unknown provider"),
        ({"provider": "zapier"}, "secrets.token", "required"),
        (
            {"provider": "zapier", "secrets": {"token": "t", "pin": "1"}},
            "secrets.pin",
            "not a secret",
        ),
        (
            {"provider": "zapier", "secrets": {"token": ["a", "b", "c"]}},
            "secrets",
            "two while rotating",
        ),
        ({"provider": "form", "settings": {"honeypot": "x"}}, "settings.honeypot", "Extra inputs"),
        ({"provider": "form", "source_class": "tv"}, "source_class", "Input should be"),
    ],
)
async def test_bad_sources_are_refused_naming_the_field(
    ingest: IngestHarness, body: dict[str, object], field: str, words: str
) -> None:
    response = await ingest.http.put("/ingest/v1/sources/bad", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors


async def test_source_names_are_checked_and_sources_need_an_admin(ingest: IngestHarness) -> None:
    bad_name = await ingest.http.put(
        "/ingest/v1/sources/Has Spaces", json={"provider": "form"}, headers=ADMIN
    )
    assert bad_name.status_code == 422
    no_key = await ingest.http.put("/ingest/v1/sources/x", json={"provider": "form"})
    assert no_key.status_code == 401


async def test_sources_from_the_environment_are_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "LEADFARM_INGEST_SOURCES",
        json.dumps({"env-zap": {"provider": "zapier", "secrets": {"token": "from-env"}}}),
    )
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        http = backend.client("ingest")
        read = (await http.get("/ingest/v1/sources/env-zap", headers=ADMIN)).json()
        assert read["origin"] == "environment"
        assert read["secrets"] == {"token": ["********"]}
        change = await http.put(
            "/ingest/v1/sources/env-zap", json={"provider": "form"}, headers=ADMIN
        )
        assert change.status_code == 409
        posted = await http.post(
            "/ingest/v1/webhooks/env-zap",
            json={"email": "env@acme.example"},
            headers={"Authorization": "Bearer from-env"},
        )
        assert posted.status_code == 200
    finally:
        await backend.stop()


def test_a_bad_source_in_the_environment_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.settings import IngestSettings
    from ingest.sources import from_environment

    monkeypatch.setenv("LEADFARM_INGEST_SOURCES", json.dumps({"z": {"provider": "zapier"}}))
    with pytest.raises(ValueError, match=r"source 'z'.*secrets\.token"):
        from_environment(IngestSettings().sources)


# --- the webhook route --------------------------------------------------------------------


async def test_zapier_leads_arrive_once_and_repeats_create_nothing(ingest: IngestHarness) -> None:
    await ingest.put_source("zaps", "zapier", ZAP, campaign="spring")
    body = json.dumps(
        {
            "id": "zap-77",
            "Email": "Kim.Lee@Example.ORG",
            "Phone Number": "+1 415 555 2671",
            "First Name": "kim",
            "Last Name": "LEE",
            "Company": "Example Org",
            "Favourite colour": "teal",
        }
    ).encode()
    first = await ingest.post("zaps", body, BEARER)
    again = await ingest.post("zaps", body, BEARER)
    assert first.status_code == again.status_code == 200
    [lead] = await ingest.leads_by_email("kim.lee@example.org")
    assert lead["lead"]["phone"] == "+14155552671"
    assert lead["lead"]["campaign"] == "spring"
    assert lead["lead"]["answers"] == {"Favourite colour": "teal"}
    assert [d["external_id"] for d in lead["deliveries"]] == ["zap-77"]


async def test_a_wrong_token_is_refused_and_the_body_is_not_logged(
    ingest: IngestHarness, caplog: pytest.LogCaptureFixture
) -> None:
    await ingest.put_source("zaps", "zapier", ZAP)
    caplog.set_level(logging.DEBUG)
    before = rejections("zaps", "unauthorized")
    secret_body = b'{"email": "hidden.person@acme.example"}'
    wrong = await ingest.post("zaps", secret_body, {"Authorization": "Bearer nope"})
    missing = await ingest.post("zaps", secret_body)
    assert wrong.status_code == missing.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    assert "does not match" in wrong.json()["detail"]
    assert "missing" in missing.json()["detail"]
    assert "hidden.person" not in caplog.text
    assert rejections("zaps", "unauthorized") == before + 2
    assert await ingest.leads_by_email("hidden.person@acme.example") == []


async def test_both_secrets_work_during_a_rotation(ingest: IngestHarness) -> None:
    await ingest.put_source("zaps", "zapier", {"token": ["old-one", "new-one"]})
    for token in ("old-one", "new-one"):
        response = await ingest.post(
            "zaps",
            json.dumps({"email": f"{token}@acme.example"}).encode(),
            {"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200


async def test_refusals_before_reading_the_lead(
    ingest: IngestHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ingest.put_source("zaps", "zapier", ZAP)
    unknown = await ingest.post("nobody", b"{}", BEARER)
    assert unknown.status_code == 404
    assert "PUT /ingest/v1/sources/nobody" in unknown.json()["detail"]
    xml = await ingest.post("zaps", b"<lead/>", BEARER, content_type="application/xml")
    assert xml.status_code == 415
    assert "application/json" in xml.json()["detail"]
    broken = await ingest.post("zaps", b'{"email": ', BEARER)
    assert broken.status_code == 400
    huge = await ingest.post("zaps", b'{"email": "' + b"a" * 300_000 + b'"}', BEARER)
    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"
    unusable = await ingest.post("zaps", b'{"first_name": "No Contact"}', BEARER)
    assert unusable.status_code == 422
    assert {e["field"] for e in unusable.json()["errors"]} >= {"email", "phone"}


async def test_each_source_has_a_rate_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFARM_INGEST_RATE_LIMIT_BURST", "3")
    monkeypatch.setenv("LEADFARM_INGEST_RATE_LIMIT_PER_SECOND", "0.5")
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        harness = IngestHarness(backend)
        await harness.put_source("zaps", "zapier", ZAP)
        statuses = [
            (
                await harness.post(
                    "zaps", json.dumps({"email": f"r{i}@acme.example"}).encode(), BEARER
                )
            ).status_code
            for i in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        limited = await harness.post("zaps", b"{}", BEARER)
        assert int(limited.headers["retry-after"]) >= 1
        assert rejections("zaps", "rate_limited") >= 3
    finally:
        await backend.stop()


async def test_unsigned_requests_cannot_starve_the_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone who knows a source's name can post to it: refused requests draw on a bucket of
    their own (429 once it is empty), and the provider's verified requests still pass."""
    monkeypatch.setenv("LEADFARM_INGEST_RATE_LIMIT_BURST", "3")
    monkeypatch.setenv("LEADFARM_INGEST_RATE_LIMIT_PER_SECOND", "0.01")
    monkeypatch.setenv("LEADFARM_INGEST_RATE_LIMIT_UNVERIFIED_BURST", "2")
    monkeypatch.setenv("LEADFARM_INGEST_RATE_LIMIT_UNVERIFIED_PER_SECOND", "0.01")
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        harness = IngestHarness(backend)
        await harness.put_source("zaps", "zapier", ZAP)
        before = rejections("zaps", "unverified_rate_limited")
        forged = [
            (await harness.post("zaps", b"{}", {"Authorization": "Bearer guess"})).status_code
            for _ in range(6)
        ]
        assert forged == [401, 401, 429, 429, 429, 429]
        assert rejections("zaps", "unverified_rate_limited") == before + 4
        signed = [
            (
                await harness.post(
                    "zaps", json.dumps({"email": f"s{i}@acme.example"}).encode(), BEARER
                )
            ).status_code
            for i in range(4)
        ]
        assert signed == [200, 200, 200, 429], "the provider's own bucket is whole"
    finally:
        await backend.stop()


# --- the plain HTML form ------------------------------------------------------------------


async def test_a_plain_form_post_becomes_a_lead_and_redirects(ingest: IngestHarness) -> None:
    await ingest.put_source(
        "site",
        "form",
        settings={
            "allowed_origins": ["https://www.acme.example"],
            "honeypot_field": "website2",
            "redirect_url": "https://www.acme.example/thanks",
        },
    )
    form = (
        b"email=Ana%40Acme.example&full_name=ana+ruiz&phone=030+1234567&country=DE"
        b"&website2=&utm_source=newsletter&utm_medium=email&interest=routing"
    )
    origin = {"Origin": "https://www.acme.example"}
    posted = await ingest.post("site", form, origin, "application/x-www-form-urlencoded")
    assert posted.status_code == 303
    assert posted.headers["location"] == "https://www.acme.example/thanks"
    [lead] = await ingest.leads_by_email("ana@acme.example")
    profile = lead["lead"]
    assert (profile["first_name"], profile["last_name"]) == ("Ana", "Ruiz")
    assert profile["phone"] == "+49301234567"
    assert profile["utm"] == {"utm_source": "newsletter", "utm_medium": "email"}
    assert profile["source_class"] == "marketing"
    assert profile["provider"] == "form"


async def test_a_filled_honeypot_looks_accepted_and_stores_nothing(ingest: IngestHarness) -> None:
    await ingest.put_source("site", "form", settings={"honeypot_field": "website2"})
    bot = b"email=bot%40spam.example&website2=http%3A%2F%2Fspam.example"
    response = await ingest.post("site", bot, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert "Thank you" in response.text
    assert await ingest.leads_by_email("bot@spam.example") == []
    assert await ingest.deliveries() == []


async def test_forms_from_other_origins_are_refused(ingest: IngestHarness) -> None:
    await ingest.put_source("site", "form", settings={"allowed_origins": ["https://acme.example"]})
    response = await ingest.post(
        "site",
        b"email=x%40y.example",
        {"Origin": "https://evil.example"},
        "application/x-www-form-urlencoded",
    )
    assert response.status_code == 403


async def test_multipart_forms_are_read_and_files_ignored(ingest: IngestHarness) -> None:
    await ingest.put_source("site", "form")
    boundary = "----leadfarm"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="email"\r\n\r\nmp@acme.example\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="cv"; filename="cv.pdf"\r\n'
        f"Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--{boundary}--\r\n"
    ).encode()
    response = await ingest.post(
        "site", body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 200
    [lead] = await ingest.leads_by_email("mp@acme.example")
    assert "cv" not in lead["lead"]["answers"]


# --- identity, the generic API, the read side ---------------------------------------------


async def test_the_same_person_from_two_sources_is_one_lead(ingest: IngestHarness) -> None:
    await ingest.put_source("zaps", "zapier", ZAP)
    api = await ingest.http.post(
        "/ingest/v1/leads",
        json={"email": "same@acme.example", "source": "website"},
        headers=ADMIN,
    )
    assert api.json()["status"] == "captured"
    zap = await ingest.post(
        "zaps",
        b'{"email": "SAME@acme.example", "phone": "+14155552671", "company": "Acme"}',
        BEARER,
    )
    assert zap.status_code == 200
    by_phone = await ingest.http.post(
        "/ingest/v1/leads", json={"phone": "(415) 555-2671", "country": "US"}, headers=ADMIN
    )
    assert by_phone.json() == {"lead_id": api.json()["lead_id"], "status": "merged"}
    [lead] = await ingest.leads_by_email("same@acme.example")
    assert lead["lead"]["company"] == "Acme"
    assert lead["lead"]["source"] == "website", "the first source keeps the attribution"
    assert [d["source"] for d in lead["deliveries"]] == ["website", "zaps", "api"]

    async def both_merges() -> list[dict[str, Any]] | None:
        events = await ingest.backend.timeline(lead["id"])
        merged = [e for e in events if e["type"] == "leadfarm.lead.merged.v1"]
        return merged if len(merged) == 2 else None

    merged = await eventually(both_merges)
    assert [m["data"]["matched_on"] for m in merged] == ["email", "phone"]


async def test_an_idempotency_key_answers_a_retry_with_the_first_answer(
    ingest: IngestHarness,
) -> None:
    lead = {"email": "idem@acme.example"}
    headers = {**ADMIN, "Idempotency-Key": "form-123"}
    first = await ingest.http.post("/ingest/v1/leads", json=lead, headers=headers)
    retry = await ingest.http.post("/ingest/v1/leads", json=lead, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert first.json() == retry.json()
    [found] = await ingest.leads_by_email("idem@acme.example")
    assert len(found["deliveries"]) == 1
    other = await ingest.http.post(
        "/ingest/v1/leads", json={"email": "other@acme.example"}, headers=headers
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]


async def test_the_generic_api_refuses_other_content_types(ingest: IngestHarness) -> None:
    response = await ingest.http.post(
        "/ingest/v1/leads",
        content=b"email=a@b.example",
        headers={**ADMIN, "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


async def test_a_batch_gets_a_result_per_lead(ingest: IngestHarness) -> None:
    batch = {
        "leads": [
            {"email": "b1@acme.example"},
            {"first_name": "nobody"},
            {"email": "b3@acme.example", "employees": "lots"},
            {"email": "b1@acme.example"},
        ]
    }
    response = await ingest.http.post("/ingest/v1/leads:batch", json=batch, headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 2)
    statuses = [(r["index"], r["status"], r.get("result")) for r in body["results"]]
    assert statuses == [(0, 202, "captured"), (1, 422, None), (2, 422, None), (3, 202, "merged")]
    assert body["results"][2]["problem"]["errors"][0]["field"] == "employees"
    too_many = await ingest.http.post(
        "/ingest/v1/leads:batch",
        json={"leads": [{"email": "x@y.example"}] * 1001},
        headers=ADMIN,
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "leads"


async def test_leads_are_found_by_email_phone_and_external_id(ingest: IngestHarness) -> None:
    await ingest.put_source("zaps", "zapier", ZAP)
    await ingest.post(
        "zaps", b'{"id": "z-1", "email": "find@acme.example", "phone": "+44 20 7946 0958"}', BEARER
    )
    http = ingest.http
    by_email = (
        await http.get("/ingest/v1/leads", params={"email": " FIND@acme.example"}, headers=ADMIN)
    ).json()
    by_phone = (
        await http.get("/ingest/v1/leads", params={"phone": "+442079460958"}, headers=ADMIN)
    ).json()
    by_id = (
        await http.get("/ingest/v1/leads", params={"external_id": "z-1"}, headers=ADMIN)
    ).json()
    assert len(by_email) == len(by_phone) == len(by_id) == 1
    assert by_email[0]["id"] == by_phone[0]["id"] == by_id[0]["id"]
    assert (await http.get("/ingest/v1/leads", headers=ADMIN)).status_code == 400
    accepted = await ingest.deliveries("accepted")
    assert [d["external_id"] for d in accepted] == ["z-1"]
    assert (
        await http.get("/ingest/v1/deliveries", params={"status": "lost"}, headers=ADMIN)
    ).status_code == 422
