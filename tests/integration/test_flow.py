"""The walking skeleton's behaviours, written once and run on both runtimes: the embedded
SQLite log, and real Kafka + PostgreSQL (the `cluster` parameter, marked integration)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import orjson
from prometheus_client import REGISTRY

from contracts.envelope import Envelope
from contracts.events import LeadReceived, make_envelope
from tests.backends import ADMIN, Backend, eventually

SALES_READY = {
    "email": "Dana.Lee@Acme.example",
    "phone": "030 1234567",
    "country": "de",
    "first_name": "Dana",
    "last_name": "Lee",
    "company": "Acme GmbH",
    "source": "website",
    "timeframe_days": 30,
    "asked_to_be_contacted": True,
}
LONG_TERM = {
    "email": "sam@beta.example",
    "company": "Beta Ltd",
    "country": "GB",
    "source": "webinar",
    "timeframe_days": 270,
}


async def add_rep(backend: Backend, rep_id: str = "ana") -> None:
    response = await backend.client("router").post(
        "/router/v1/reps",
        json={"id": rep_id, "name": rep_id.title(), "email": f"{rep_id}@example.com"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text


def types(events: list[dict[str, object]]) -> list[object]:
    return [e["type"] for e in events]


async def test_two_leads_cross_all_five_services(backend: Backend) -> None:
    await add_rep(backend)
    ready = await backend.post_lead(**SALES_READY)
    later = await backend.post_lead(**LONG_TERM)

    ready_events = await backend.timeline_with(ready, "leadfarm.lead.assigned.v1")
    later_events = await backend.timeline_with(later, "leadfarm.nurture.enrolled.v1")
    # audit's own events (forecast, Prospect Satisfaction audits) are said at audit's pace and
    # can fall anywhere in the story; this checks the flow through the other services.
    ready_events = [e for e in ready_events if e["source"] != "/leadfarm/audit"]
    later_events = [e for e in later_events if e["source"] != "/leadfarm/audit"]

    assert types(ready_events)[:4] == [
        "leadfarm.lead.received.v1",
        "leadfarm.lead.captured.v1",
        "leadfarm.lead.qualified.v1",
        "leadfarm.lead.assigned.v1",
    ]
    assert [e["source"] for e in ready_events[:4]] == [
        "/leadfarm/ingest",
        "/leadfarm/ingest",
        "/leadfarm/qualifier",
        "/leadfarm/router",
    ]
    assert types(later_events)[:4] == [
        "leadfarm.lead.received.v1",
        "leadfarm.lead.captured.v1",
        "leadfarm.lead.deferred.v1",
        "leadfarm.nurture.enrolled.v1",
    ]
    # audit is the fifth service: it archived them all, each a full CloudEvent.
    for lead_id, events in ((ready, ready_events), (later, later_events)):
        trace_ids = {str(e["traceparent"]).split("-")[1] for e in events[:4]}
        assert len(trace_ids) == 1, "one lead's events continue one trace"
        for event in events:
            assert event["specversion"] == "1.0"
            assert event["subject"] == lead_id
            assert event["datacontenttype"] == "application/json"
            assert str(event["dataschema"]).endswith(f"{event['type']}.json")
            Envelope.model_validate(event)
    captured = ready_events[1]["data"]
    assert isinstance(captured, dict)
    assert captured["lead"]["email"] == "dana.lee@acme.example"
    assert captured["lead"]["phone"] == "+49301234567"
    assigned = ready_events[3]["data"]
    assert isinstance(assigned, dict)
    assert assigned["rep_id"] == "ana"

    response = await backend.client("router").get(
        f"/router/v1/leads/{ready}/assignment", headers=ADMIN
    )
    assert response.status_code == 200
    assert response.json()["rep_id"] == "ana"
    response = await backend.client("nurture").get(f"/nurture/v1/leads/{later}", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["status"] == "active"


def duplicates_seen(backend: Backend, service: str) -> float:
    group = f"{backend.settings.topic_namespace}.{service}"
    return sum(
        REGISTRY.get_sample_value(
            "leadfarm_events_handled_total",
            {"consumer": group, "type": t, "result": "duplicate"},
        )
        or 0.0
        for t in ("leadfarm.lead.captured.v1", "leadfarm.lead.received.v1")
    )


async def test_the_same_event_delivered_twice_changes_nothing(backend: Backend) -> None:
    await add_rep(backend)
    lead_id = await backend.post_lead(**SALES_READY)
    events = await backend.timeline_with(lead_id, "leadfarm.lead.assigned.v1")
    captured = next(e for e in events if e["type"] == "leadfarm.lead.captured.v1")
    before = {s: duplicates_seen(backend, s) for s in ("qualifier", "audit")}

    await backend.inject("ingest", lead_id, orjson.dumps(captured))

    async def both_skipped_it() -> bool:
        return all(duplicates_seen(backend, s) > before[s] for s in ("qualifier", "audit"))

    await eventually(both_skipped_it)
    await add_rep(backend, "bo")  # a second rep would get a second assignment, if there were one
    after = await backend.timeline(lead_id)
    others = "/leadfarm/audit"  # audit's own events come at audit's pace
    assert types([e for e in after if e["source"] != others]) == types(
        [e for e in events if e["source"] != others]
    )
    assert types(after).count("leadfarm.lead.qualified.v1") == 1
    assert types(after).count("leadfarm.lead.assigned.v1") == 1


async def test_a_poison_message_is_dead_lettered_and_the_consumer_goes_on(
    backend: Backend,
) -> None:
    lead = str(uuid.uuid4())
    unknown = Envelope(
        source="/elsewhere",
        type="leadfarm.no.such.thing.v1",
        time=datetime.now(UTC),
        subject=lead,
        data={},
    )
    invalid = make_envelope(
        LeadReceived(
            lead_id=lead,
            delivery_id="d1",
            source="s",
            provider="api",
            received_at=datetime.now(UTC),
        ),
        time=datetime.now(UTC),
    ).model_copy(update={"data": {"lead_id": lead}})  # required fields missing
    await backend.inject("ingest", lead, b"this is not an event")
    await backend.inject("ingest", lead, unknown.to_json())
    await backend.inject("ingest", lead, invalid.to_json())

    after = await backend.post_lead(**LONG_TERM)
    await backend.timeline_with(after, "leadfarm.nurture.enrolled.v1")

    async def dead() -> list[tuple[dict[str, str], bytes]] | None:
        letters = await backend.dead_letters("ingest")
        by_audit = [h for h, _ in letters if h["x-leadfarm-consumer"].endswith(".audit")]
        return letters if len(by_audit) == 3 else None

    letters = await eventually(dead)
    values = {v for _, v in letters}
    assert b"this is not an event" in values
    errors = " ".join(h["x-leadfarm-error"] for h, _ in letters)
    assert "unknown event type 'leadfarm.no.such.thing.v1'" in errors
    assert "received_at" in errors  # the invalid one names the missing field
    for headers, _ in letters:
        assert headers["x-leadfarm-original-topic"] == backend.topic("ingest")


async def test_webhook_leads_merge_the_same_person_and_repeat_deliveries_are_no_ops(
    backend: Backend,
) -> None:
    http = backend.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/zaps",
        json={"provider": "zapier", "secrets": {"token": "tok"}, "source_class": "events"},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    delivery = {
        "id": "zap-1",
        "Email": "Mia.Park@Acme.example",
        "Company": "Acme",
        "utm_medium": "tradeshow",
    }
    auth = {"Authorization": "Bearer tok"}
    for _ in range(2):
        response = await http.post("/ingest/v1/webhooks/zaps", json=delivery, headers=auth)
        assert response.status_code == 200, response.text
    again = await http.post(
        "/ingest/v1/leads",
        json={"email": "mia.park@acme.example", "phone": "+1 415 555 2671"},
        headers=ADMIN,
    )
    assert again.json()["status"] == "merged"
    lead_id = again.json()["lead_id"]

    events = await backend.timeline_with(lead_id, "leadfarm.lead.merged.v1")
    assert types(events).count("leadfarm.lead.captured.v1") == 1
    assert types(events).count("leadfarm.lead.received.v1") == 2
    lead = (await http.get(f"/ingest/v1/leads/{lead_id}", headers=ADMIN)).json()
    assert lead["lead"]["source_class"] == "events"
    assert lead["lead"]["phone"] == "+14155552671"
    assert [d["external_id"] for d in lead["deliveries"]] == ["zap-1", None]
    found = await http.get("/ingest/v1/leads", params={"external_id": "zap-1"}, headers=ADMIN)
    assert [f["id"] for f in found.json()] == [lead_id]


async def test_a_rep_submits_a_lead_they_found(backend: Backend) -> None:
    http = backend.client("ingest")
    key = await http.post(
        "/admin/v1/keys", json={"name": "ana", "scope": "rep", "rep_id": "ana"}, headers=ADMIN
    )
    rep = {"Authorization": f"Bearer {key.json()['key']}"}
    response = await http.post(
        "/ingest/v1/leads",
        json={
            "email": "referral@happy-customer.example",
            "company": "Happy Customer",
            "need": "asked at the close who else could benefit",
        },
        headers=rep,
    )
    assert response.status_code == 202
    captured = await backend.timeline_with(response.json()["lead_id"], "leadfarm.lead.captured.v1")
    profile = next(e for e in captured if e["type"] == "leadfarm.lead.captured.v1")["data"]["lead"]
    assert profile["source_class"] == "rep_prospecting"
    assert profile["sourced_by_rep_id"] == "ana"


async def test_one_person_arriving_many_times_at_once_is_one_lead(backend: Backend) -> None:
    """Deliveries of one person racing each other (a form and an ad platform at the same
    moment) merge into one lead: on PostgreSQL none of them may miss the others' lead."""
    email = f"race-{uuid.uuid4().hex[:8]}@gamma.example"
    sources = ["website", "webinar", "linkedin", "trade-show", "partner", "event", "ads", "chat"]
    lead_ids = await asyncio.gather(
        *(
            backend.post_lead(**{**LONG_TERM, "email": email, "source": source})
            for source in sources
        )
    )
    assert len(set(lead_ids)) == 1, lead_ids


async def test_a_person_is_found_by_email_before_phone(backend: Backend) -> None:
    """The oldest lead with the email wins over an older lead with only the phone (on
    PostgreSQL too, where a row without an email must not sort first)."""
    tag = uuid.uuid4().hex[:8]
    phone = f"+4930{int(tag, 16) % 10_000_000:07d}"
    by_phone = await backend.post_lead(phone=phone, country="de", source="phone-in")
    by_email = await backend.post_lead(email=f"first-{tag}@delta.example", source="website")
    assert by_phone != by_email
    both = await backend.post_lead(
        email=f"FIRST-{tag}@delta.example", phone=phone, country="de", source="ads"
    )
    assert both == by_email
    only_phone = await backend.post_lead(phone=phone, country="de", source="ads")
    assert only_phone == by_phone


async def test_copies_of_one_delivery_arriving_at_once_are_one_delivery(
    backend: Backend,
) -> None:
    """A provider retrying while its first attempt is still in flight: every copy is
    answered as accepted (none with a 500), and ingest keeps one delivery and one lead."""
    http = backend.client("ingest")
    created = await http.put(
        "/ingest/v1/sources/zaps-race",
        json={"provider": "zapier", "secrets": {"token": "tok"}},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    tag = uuid.uuid4().hex[:8]
    delivery = {"id": f"zap-{tag}", "Email": f"copy-{tag}@acme.example", "Company": "Acme"}
    auth = {"Authorization": "Bearer tok"}
    answers = await asyncio.gather(
        *(http.post("/ingest/v1/webhooks/zaps-race", json=delivery, headers=auth) for _ in range(8))
    )
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    found = await http.get("/ingest/v1/leads", params={"external_id": f"zap-{tag}"}, headers=ADMIN)
    [lead] = found.json()
    assert [d["external_id"] for d in lead["deliveries"]] == [f"zap-{tag}"]
