"""ingest's identity and what it keeps, on both runtimes (SQLite and PostgreSQL): who is the
same person, that every delivery keeps what was submitted, and what reaches the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from starlette.types import ASGIApp

from contracts.topics import ServiceName
from ingest.fetcher import FetchWorker
from ingest.models import deliveries
from ingest.service import MAX_ANSWER_CHARS, MAX_ANSWERS
from tests.backends import ADMIN, Backend, eventually
from tests.integration.test_fetch_flow import APP_SECRET, graph_api, webhook


async def submitted(backend: Backend, lead_id: str) -> list[Any]:
    """The raw payloads of the lead's deliveries, oldest first, as stored."""
    unit = backend.runtimes["ingest"].units["ingest"]
    async with unit.read() as conn:
        rows = await conn.execute(
            select(deliveries.c.payload)
            .where(deliveries.c.lead_id == lead_id)
            .order_by(deliveries.c.received_at, deliveries.c.id)
        )
        return [r.payload for r in rows]


async def lead(backend: Backend, lead_id: str) -> dict[str, Any]:
    response = await backend.client("ingest").get(f"/ingest/v1/leads/{lead_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def find(backend: Backend, **query: str) -> list[str]:
    response = await backend.client("ingest").get("/ingest/v1/leads", params=query, headers=ADMIN)
    assert response.status_code == 200, response.text
    return [f["id"] for f in response.json()]


async def post(backend: Backend, **body: Any) -> dict[str, Any]:
    response = await backend.client("ingest").post("/ingest/v1/leads", json=body, headers=ADMIN)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


# --- item: two people behind one phone number ----------------------------------------------


async def test_a_shared_phone_with_another_email_is_another_person(backend: Backend) -> None:
    """A switchboard or a family phone: the same number with another address is somebody
    else, never merged over (which lost the second address for good)."""
    switchboard = "+49 30 9876543"
    first = await post(backend, email="ana@shared.example", phone=switchboard, source="web")
    second = await post(backend, email="ben@shared.example", phone=switchboard, source="web")
    assert first["status"] == second["status"] == "captured"
    assert first["lead_id"] != second["lead_id"]
    assert await find(backend, email="ben@shared.example") == [second["lead_id"]]
    assert (await lead(backend, second["lead_id"]))["lead"]["email"] == "ben@shared.example"
    assert (await lead(backend, first["lead_id"]))["lead"]["email"] == "ana@shared.example"

    # Without an address nothing conflicts: the number alone is the first lead with it.
    by_phone = await post(backend, phone=switchboard, company="Shared GmbH")
    assert by_phone == {"lead_id": first["lead_id"], "status": "merged"}
    # A lead known only by its number takes the address of the first who gives one.
    only_phone = await post(backend, phone="+49 30 5550001")
    named = await post(backend, email="cleo@shared.example", phone="+49 30 5550001")
    assert named == {"lead_id": only_phone["lead_id"], "status": "merged"}
    assert (await lead(backend, named["lead_id"]))["lead"]["email"] == "cleo@shared.example"


async def test_one_round_applies_the_identity_rules_as_one_lead_after_another(
    backend: Backend,
) -> None:
    """A round decides against one read of the persons it touches (ingest/roundstore.py):
    each lead of a batch must still see the leads and merges made before it in the same
    round, exactly as if they had been posted one after another (the test above)."""
    switchboard, own = "+49 30 9876111", "+49 30 5550111"
    leads = [
        {"email": "ana@round.example", "phone": switchboard, "source": "web"},
        {"email": "ben@round.example", "phone": switchboard, "source": "web"},
        {"phone": switchboard, "company": "Shared GmbH"},
        {"phone": own},
        {"email": "cleo@round.example", "phone": own},
        {"email": "ANA@round.example", "job_title": "CTO"},
        {"email": "cleo@round.example", "company": "Cleo Ltd"},
    ]
    response = await backend.client("ingest").post(
        "/ingest/v1/leads:batch", json={"leads": leads}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    results = [(r["lead_id"], r["result"]) for r in response.json()["results"]]
    ana, ben, cleo = results[0][0], results[1][0], results[3][0]
    assert len({ana, ben, cleo}) == 3
    assert results == [
        (ana, "captured"),
        (ben, "captured"),  # another address behind the same number: somebody else
        (ana, "merged"),  # the number alone: the oldest lead with it
        (cleo, "captured"),
        (cleo, "merged"),  # known only by the number: takes the first address given
        (ana, "merged"),
        (cleo, "merged"),  # by the address the round gave that lead two leads ago
    ]
    profile = (await lead(backend, ana))["lead"]
    assert (profile["company"], profile["job_title"]) == ("Shared GmbH", "CTO")
    assert (await lead(backend, cleo))["lead"]["company"] == "Cleo Ltd"
    assert len(await submitted(backend, ana)) == 3


async def test_every_api_delivery_keeps_what_was_submitted(backend: Backend) -> None:
    """Merging keeps the first value of a field; the delivery row keeps the rest."""
    first = await post(backend, email="dora@keep.example", phone="+44 20 7946 0958")
    again = await post(
        backend, email="Dora@Keep.example", phone="+44 20 7946 0000", job_title="CTO"
    )
    assert again == {"lead_id": first["lead_id"], "status": "merged"}
    profile = (await lead(backend, first["lead_id"]))["lead"]
    assert (profile["phone"], profile["job_title"]) == ("+442079460958", "CTO")
    assert await submitted(backend, first["lead_id"]) == [
        {"lead": {"email": "dora@keep.example", "phone": "+44 20 7946 0958"}},
        {"lead": {"email": "Dora@Keep.example", "phone": "+44 20 7946 0000", "job_title": "CTO"}},
    ]


# --- item: control characters at the edge ---------------------------------------------------

NUL = "\x00"


async def test_the_json_api_refuses_control_characters_naming_the_field(
    backend: Backend,
) -> None:
    """A program sending a NUL or another control character is told which field to fix."""
    http = backend.client("ingest")
    for body, field in (
        ({"email": "nul@ctl.example", "company": f"Acme{NUL}GmbH"}, "company"),
        ({"email": "esc@ctl.example", "need": "call me\x1b[31m"}, "need"),
        ({"email": "c1@ctl.example", "answers": {"Budget": "10k\x85"}}, "answers"),
        ({"email": "key@ctl.example", "answers": {f"Q{NUL}": "yes"}}, "answers"),
        ({"email": "utm@ctl.example", "utm": {"utm_source": f"x{NUL}"}}, "utm"),
        ({"email": "p@ctl.example", "product_interest": ["CRM", f"A{NUL}"]}, "product_interest"),
        ({"email": "src@ctl.example", "source": f"web{NUL}"}, "source"),
        ({"email": f"nul{NUL}@ctl.example"}, "email"),
    ):
        response = await http.post("/ingest/v1/leads", json=body, headers=ADMIN)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert [e["field"] for e in problem["errors"]] == [field], problem
        assert "control character" in problem["errors"][0]["message"], problem
    # Tabs and line breaks are text, not control: a message keeps its lines.
    fine = await post(backend, email="lines@ctl.example", need="line one\nline two\ttab")
    assert (await lead(backend, fine["lead_id"]))["lead"]["need"] == "line one line two tab"

    batch = await http.post(
        "/ingest/v1/leads:batch",
        json={"leads": [{"email": "b1@ctl.example"}, {"email": "b2@ctl.example", "region": NUL}]},
        headers=ADMIN,
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["status"] for r in results] == [202, 422]
    assert results[1]["problem"]["errors"][0]["field"] == "region"
    assert await find(backend, email="b2@ctl.example") == []


async def test_webhooks_strip_control_characters_before_anything_is_stored(
    backend: Backend,
) -> None:
    """A person's form cannot be asked to resend: the public form and every provider's
    delivery lose their control characters (fields, answers, names, provider ids) and the
    lead is kept, on SQLite as on PostgreSQL (which cannot store a NUL at all)."""
    http = backend.client("ingest")
    for name, provider, secrets in (("site", "form", {}), ("zaps", "zapier", {"token": "tok"})):
        created = await http.put(
            f"/ingest/v1/sources/{name}",
            json={"provider": provider, "secrets": secrets},
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
    form = await http.post(
        "/ingest/v1/webhooks/site",
        content=b"email=form%00@ctl.example&company=Ac%00me%01&Why%00+us%3F=fast%1b%00",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 200, form.text
    [form_lead] = await find(backend, email="form@ctl.example")
    profile = (await lead(backend, form_lead))["lead"]
    assert (profile["company"], profile["answers"]) == ("Acme", {"Why us?": "fast"})
    assert await submitted(backend, form_lead) == [
        {"fields": {"email": "form@ctl.example", "company": "Acme", "Why us?": "fast"}}
    ]

    zap = await http.post(
        "/ingest/v1/webhooks/zaps",
        json={"id": f"zap{NUL}-1", "Email": "zap@ctl.example", f"Note{NUL}": f"hi{NUL}\x7f"},
        headers={"Authorization": "Bearer tok"},
    )
    assert zap.status_code == 200, zap.text
    [zap_lead] = await find(backend, external_id="zap-1")
    stored = await lead(backend, zap_lead)
    assert stored["lead"]["answers"] == {"Note": "hi"}
    assert [d["external_id"] for d in stored["deliveries"]] == ["zap-1"]


async def test_a_fetched_lead_loses_its_control_characters_too(
    backend: Backend, serve_api: Callable[[ASGIApp], str]
) -> None:
    """The leads a webhook only names come from the provider's API: the same edge."""
    base = serve_api(
        graph_api(
            {
                "lg-ctl": [
                    {"name": "email", "values": [f"fetched{NUL}@ctl.example"]},
                    {"name": "company_name", "values": [f"Fe{NUL}tch\x1b Ltd"]},
                    {"name": f"why{NUL}", "values": [f"because\x07{NUL}"]},
                ]
            },
            [],
        )
    )
    http = backend.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/fb",
        headers=ADMIN,
        json={
            "provider": "meta",
            "api_base_url": base,
            "secrets": {"app_secret": APP_SECRET, "verify_token": "v", "access_token": "tok"},
        },
    )
    assert created.status_code == 201, created.text
    body, headers = webhook("lg-ctl")
    assert (await http.post("/ingest/v1/webhooks/fb", content=body, headers=headers)).is_success
    worker = next(
        w for w in backend.runtimes["ingest"].specs[0].workers if isinstance(w, FetchWorker)
    )
    await worker.run_once()  # the background loop may have taken it first: both are fine

    async def fetched() -> list[str] | None:
        return await find(backend, email="fetched@ctl.example") or None

    [lead_id] = await eventually(fetched)
    profile = (await lead(backend, lead_id))["lead"]
    assert (profile["company"], profile["answers"]) == ("Fetch Ltd", {"why": "because"})


async def test_a_control_character_in_a_url_or_a_body_is_refused_not_a_500(
    backend: Backend,
) -> None:
    """PostgreSQL fails any statement holding a NUL: a URL, a request body or a source
    configuration with one is refused with a problem naming where it is, on every service,
    never a 500."""
    urls: list[tuple[ServiceName, str]] = [
        ("ingest", "/ingest/v1/leads?external_id=a%00b"),
        ("ingest", "/ingest/v1/leads/a%00b"),
        ("ingest", "/ingest/v1/webhooks/site%00"),
        ("router", "/router/v1/leads/a%00b/assignment"),
        ("nurture", "/nurture/v1/leads/a%1bb"),
        ("audit", "/audit/v1/leads/a%00b/timeline"),
    ]
    for service, url in urls:
        response = await backend.client(service).request(
            "POST" if "webhooks" in url else "GET", url, headers=ADMIN
        )
        assert response.status_code == 400, (url, response.text)
        detail = response.json()["detail"]
        assert "control character" in detail, detail
    query = await backend.client("ingest").get("/ingest/v1/leads?external_id=a%00b", headers=ADMIN)
    assert "query parameter 'external_id'" in query.json()["detail"]

    bodies: list[tuple[ServiceName, str, dict[str, Any], str]] = [
        (
            "router",
            "/router/v1/reps",
            {"id": "ana", "name": f"Ana{NUL}", "email": "a@x.example"},
            "name",
        ),
        (
            "nurture",
            "/nurture/v1/bounces",
            {"email": "a@x.example", "kind": "hard", "detail": NUL},
            "detail",
        ),
        ("nurture", "/nurture/v1/engagements", {"lead_id": f"l{NUL}", "type": "opened"}, "lead_id"),
        ("audit", "/audit/v1/audits", {"lead_id": f"l{NUL}"}, "lead_id"),
        ("audit", "/audit/v1/erasures", {"lead_id": f"l{NUL}"}, "lead_id"),
        ("ingest", "/admin/v1/keys", {"name": f"k{NUL}", "scope": "ingest"}, "name"),
    ]
    for service, url, payload, name in bodies:
        response = await backend.client(service).post(url, json=payload, headers=ADMIN)
        assert response.status_code == 422, (url, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [name], response.text

    http = backend.client("ingest")
    for body, field in (
        ({"provider": "form", "campaign": f"spring{NUL}"}, "campaign"),
        ({"provider": "form", "settings": {"field_map": {f"q{NUL}": "email"}}}, "settings"),
        ({"provider": "zapier", "secrets": {"token": f"t{NUL}k"}}, "secrets"),
    ):
        response = await http.put("/ingest/v1/sources/ctl", json=body, headers=ADMIN)
        assert response.status_code == 422, (body, response.text)
        assert [e["field"] for e in response.json()["errors"]] == [field]


# --- item: repeated deliveries do not grow a lead without bound ------------------------------


async def merged_events(backend: Backend, lead_id: str) -> list[bytes]:
    """The lead.merged events ingest said about the lead, as sent (its topic)."""
    return [
        r.value
        for r in await backend.records("ingest")
        if r.key == lead_id.encode() and b"lead.merged" in r.value
    ]


async def test_repeated_deliveries_grow_the_profile_and_its_events_only_so_far(
    backend: Backend,
) -> None:
    """One person posted 15 times with 150 new answers each made a 124 KB lead.merged: the
    profile keeps the first answers up to the cap, each delivery keeps its own, and every
    event stays small."""
    email = "again@bound.example"
    lead_id = ""
    for n in range(15):
        answers = {f"Question {n}.{i}": f"answer {i}" for i in range(150)}
        lead_id = (await post(backend, email=email, answers=answers))["lead_id"]
    profile = (await lead(backend, lead_id))["lead"]
    assert len(profile["answers"]) == MAX_ANSWERS
    assert list(profile["answers"])[:2] == ["Question 0.0", "Question 0.1"], "the first stay"
    assert "profile_truncated" in profile["flags"]
    events = await merged_events(backend, lead_id)
    assert len(events) == 14
    assert max(len(e) for e in events) < 20_000, [len(e) for e in events]
    kept = await submitted(backend, lead_id)
    assert len(kept) == 15
    assert len(kept[-1]["lead"]["answers"]) == 150, "each delivery keeps all it carried"

    # Long answers meet the character budget, also in a single delivery.
    essays = {f"Essay {i}": "x" * 1_900 for i in range(60)}
    long = await post(backend, email="essays@bound.example", answers=essays)
    profile = (await lead(backend, long["lead_id"]))["lead"]
    assert sum(len(k) + len(v) for k, v in profile["answers"].items()) <= MAX_ANSWER_CHARS
    assert 0 < len(profile["answers"]) < 60
    assert "profile_truncated" in profile["flags"]
