"""nurture on the embedded runtime with the injected clock: consent, unsubscribe, tracked
links and engagement, bounces, erasure, the tracks manager API, and leaving nurture."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from contracts.events import (
    Decision,
    LeadDisqualified,
    LeadProfile,
    LeadQualified,
    LeadReturned,
    make_envelope,
)
from nurture.consent import email_hash
from nurture.models import consents, engagements, enrolments, leads, messages
from services.clock import ManualClock
from services.tables import inbox
from tests.backends import ADMIN, EmbeddedBackend, eventually
from tests.scenarios.nurture import (
    enrol,
    fire,
    next_due,
    outbox,
    path_of,
    settle,
    touches,
    unit_of,
    view,
    walk,
)


@dataclass
class Farm:
    backend: EmbeddedBackend
    clock: ManualClock
    data_dir: Path

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.backend.client("nurture").get(path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Any:
        return await self.backend.client("nurture").post(path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Any:
        return await self.backend.client("nurture").put(path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Any:
        return await self.backend.client("nurture").delete(path, **kwargs)

    async def count(self, table: Any, *where: Any) -> int:
        async with unit_of(self.backend).read() as conn:
            return int(
                await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0
            )


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[Farm]:
    clock = ManualClock()  # Monday 5 January 2026, 09:00 UTC
    backend = await EmbeddedBackend(tmp_path, clock=clock, timer_poll_interval_s=3600).start()
    yield Farm(backend, clock, tmp_path)
    await backend.stop()


async def test_no_email_without_consent_but_inside_sales_tasks_still_come(farm: Farm) -> None:
    lead_id, enrolment = await enrol(farm.backend, email="nobody@beta.example", consent_email=None)
    status = await view(farm.backend, lead_id)
    assert status["status"] == "active"
    assert status["track"] == "long-term-default"
    assert status["consent"] == {
        "basis": None,
        "detail": "no consent basis recorded",
        "suppressed": None,
    }
    assert status["next_step"]["action"] == "email"

    await walk(farm.backend, farm.clock, enrolment, steps=3)  # day 0, 3 (emails), 14 (task)
    assert outbox(farm.data_dir) == []
    status = await view(farm.backend, lead_id)
    assert status["step"] == 3
    emails = [t for t in status["touches"] if t["kind"] == "email"]
    assert [(t["status"], t["reason"]) for t in emails] == [
        ("skipped", "no consent basis recorded")
    ] * 2
    [task] = (await farm.get("/nurture/v1/tasks", headers=ADMIN)).json()
    assert task["lead_id"] == lead_id
    assert task["day"] == 14
    touched = await touches(farm.backend, lead_id, 1)
    assert [(t["data"]["channel"], t["data"]["step"]) for t in touched] == [("task", 3)]

    # Consent recorded later, with its evidence: the next email goes.
    response = await farm.post(
        "/nurture/v1/consents",
        json={"email": "Nobody@Beta.example", "basis": "opt_in", "evidence": "webinar form"},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    assert response.json()["email_hash"] == email_hash("nobody@beta.example")
    await walk(farm.backend, farm.clock, enrolment, steps=1)  # day 30
    [mail] = outbox(farm.data_dir)
    assert mail["To"] == "nobody@beta.example"
    assert (await view(farm.backend, lead_id))["consent"]["basis"] == "opt_in"
    done = await farm.post(
        f"/nurture/v1/tasks/{task['id']}/complete",
        json={"outcome": "left a voicemail"},
        headers=ADMIN,
    )
    assert done.status_code == 200, done.text
    assert done.json()["task"]["status"] == "done"
    again = await farm.post(
        f"/nurture/v1/tasks/{task['id']}/complete", json={"outcome": "x"}, headers=ADMIN
    )
    assert again.status_code == 409


async def test_the_unsubscribe_link_works_without_logging_in(farm: Farm) -> None:
    lead_id, _ = await enrol(farm.backend)
    assert await fire(farm.backend) == 1
    [mail] = outbox(farm.data_dir)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = path_of(mail["List-Unsubscribe"])
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    assert "Unsubscribe: http://127.0.0.1:8000" + link in text.get_content().replace("=\r\n", "")

    page = await farm.get(link)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<form method='post'" in page.text
    assert (await view(farm.backend, lead_id))["consent"]["suppressed"] is None, (
        "GET changes nothing"
    )

    done = await farm.post(link, content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200
    assert "You are unsubscribed" in done.text
    assert (await farm.post(link)).status_code == 200, "idempotent"
    status = await view(farm.backend, lead_id)
    assert status["consent"]["suppressed"] == "unsubscribed"
    assert status["consent"]["basis"] is None

    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    for response in (await farm.get(tampered), await farm.post(tampered)):
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
    [entry] = (await farm.get("/nurture/v1/suppressions", headers=ADMIN)).json()
    assert entry["email_hash"] == email_hash("sam@beta.example")
    assert entry["reason"] == "unsubscribed"
    assert entry["track"] == "long-term-default"
    stats = (await farm.get("/nurture/v1/tracks/long-term-default/stats", headers=ADMIN)).json()
    assert stats["unsubscribed"] == 1
    assert stats["emails_sent"] == 1

    # A fresh opt-in recorded by a manager lifts an unsubscribe.
    await farm.post(
        "/nurture/v1/consents",
        json={"email": "sam@beta.example", "basis": "opt_in", "evidence": "asked us by phone"},
        headers=ADMIN,
    )
    assert (await view(farm.backend, lead_id))["consent"]["suppressed"] is None


async def test_clicks_and_engagement_warm_a_lead_up_until_it_is_recycled(farm: Farm) -> None:
    lead_id, enrolment = await enrol(farm.backend, email="kim@gamma.example")
    await fire(farm.backend)
    [mail] = outbox(farm.data_dir)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content().replace("=\r\n", "").replace("\r\n", "\n")
    [link] = re.findall(r"http://127\.0\.0\.1:8000(/nurture/v1/r/\S+)", text)

    response = await farm.get(link)
    assert response.status_code == 302
    assert response.headers["location"] == "https://leadfarm.example/guides/speed-to-lead"
    assert (await farm.get(link[:-4] + "AAAA")).status_code == 400
    status = await view(farm.backend, lead_id)
    assert [(e["type"], e["points"]) for e in status["engagement"]["history"]] == [("clicked", 3)]
    assert status["engagement"]["threshold"] == 25

    async def engage(**body: Any) -> Any:
        farm.clock.advance(timedelta(seconds=1))  # one after the other
        response = await farm.post(
            "/nurture/v1/engagements", json={"lead_id": lead_id, **body}, headers=ADMIN
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    result = await engage(type="filled_form", external_id="form-1", detail={"form": "pricing"})
    assert (result["score"], result["recycled"]) == (13, False)
    duplicate = await engage(type="filled_form", external_id="form-1")
    assert duplicate["duplicate"] is True
    assert duplicate["score"] == 13
    # Two months later the old engagement is worth a quarter.
    farm.clock.advance(timedelta(days=60))
    assert (await engage(type="attended_webinar"))["score"] == 18.25
    farm.clock.advance(timedelta(seconds=1))
    by_message = await farm.post(
        "/nurture/v1/engagements",
        json={"message_id": mail["X-Leadfarm-Message-Id"], "type": "opened"},
        headers=ADMIN,
    )
    assert by_message.status_code == 201
    assert by_message.json()["lead_id"] == lead_id
    crossing = await engage(type="replied")
    assert crossing["recycled"] is True
    assert crossing["score"] == 27.25

    events = await backend_events(farm, lead_id, "leadfarm.lead.recycled.v1")
    recycled = events["leadfarm.lead.recycled.v1"]["data"]
    assert recycled["hand_raise"] is False
    assert recycled["engagement_score"] == 27.25
    assert recycled["threshold"] == 25
    assert recycled["track"] == "long-term-default"
    assert [e["type"] for e in recycled["engagements"]] == [
        "clicked",
        "filled_form",
        "attended_webinar",
        "opened",
        "replied",
    ]
    assert recycled["lead"]["asked_to_be_contacted"] is False
    assert recycled["lead"]["email"] == "kim@gamma.example"
    assert await next_due(farm.backend, enrolment) is None, "the track stopped"

    # Not sales-ready yet: the qualifier defers it again, and it gets the warm track.
    async def re_enrolled() -> dict[str, Any] | None:
        status = await view(farm.backend, lead_id)
        return status if status["id"] != enrolment else None

    status = await eventually(re_enrolled)
    assert status["trigger"] == "deferred_again"
    assert status["track"] == "warmed-not-ready"
    assert status["engagement"]["score"] == 0, "counted afresh after a recycle"
    stats = (await farm.get("/nurture/v1/tracks/long-term-default/stats", headers=ADMIN)).json()
    assert {k: stats[k] for k in ("enrolled", "touched", "engaged", "recycled")} == {
        "enrolled": 1,
        "touched": 1,
        "engaged": 1,
        "recycled": 1,
    }

    missing = await farm.post(
        "/nurture/v1/engagements", json={"lead_id": "nope", "type": "opened"}, headers=ADMIN
    )
    assert missing.status_code == 404
    invalid = await farm.post("/nurture/v1/engagements", json={"type": "sneezed"}, headers=ADMIN)
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.json()["errors"]} >= {"type"}
    assert (await farm.post("/nurture/v1/engagements", json={})).status_code == 401


async def backend_events(farm: Farm, lead_id: str, *types: str) -> dict[str, dict[str, Any]]:
    events = await farm.backend.timeline_with(lead_id, *types)
    return {e["type"]: e for e in events}


async def test_a_bounce_reported_by_the_provider_suppresses_the_address(farm: Farm) -> None:
    lead_id, enrolment = await enrol(farm.backend)
    await fire(farm.backend)
    [mail] = outbox(farm.data_dir)
    soft = await farm.post(
        "/nurture/v1/bounces",
        json={"message_id": mail["X-Leadfarm-Message-Id"], "kind": "soft"},
        headers=ADMIN,
    )
    assert soft.json() == {"suppressed": False, "cancelled": 0}
    hard = await farm.post(
        "/nurture/v1/bounces",
        json={"message_id": mail["X-Leadfarm-Message-Id"], "kind": "hard", "detail": "550"},
        headers=ADMIN,
    )
    assert hard.json()["suppressed"] is True
    await walk(farm.backend, farm.clock, enrolment, steps=2)
    assert len(outbox(farm.data_dir)) == 1
    status = await view(farm.backend, lead_id)
    assert status["consent"]["suppressed"] == "hard_bounce"
    assert [t["status"] for t in status["touches"] if t["kind"] == "email"] == [
        "skipped",
        "bounced",
    ]
    unknown = await farm.post(
        "/nurture/v1/bounces", json={"message_id": "nope", "kind": "hard"}, headers=ADMIN
    )
    assert unknown.status_code == 404
    by_address = await farm.post(
        "/nurture/v1/bounces",
        json={"email": "someone@else.example", "kind": "complaint"},
        headers=ADMIN,
    )
    assert by_address.json()["suppressed"] is True


async def test_an_erasure_removes_the_person_from_nurture(farm: Farm) -> None:
    lead_id, enrolment = await enrol(farm.backend, email="erase.me@delta.example")
    await fire(farm.backend)
    await farm.post(
        "/nurture/v1/engagements", json={"lead_id": lead_id, "type": "opened"}, headers=ADMIN
    )
    await farm.post(
        "/nurture/v1/consents",
        json={"email": "erase.me@delta.example", "basis": "opt_in", "evidence": "form"},
        headers=ADMIN,
    )
    assert len(outbox(farm.data_dir)) == 1

    response = await farm.post(
        "/nurture/v1/erasures", json={"email": "Erase.Me@delta.example"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "lead_ids": [lead_id],
        "erased": {
            "enrolments": 1,
            "messages": 1,
            "tasks": 0,
            "engagements": 1,
            "consents": 1,
            "leads": 1,
        },
        "suppressed": True,
    }
    assert (await farm.get(f"/nurture/v1/leads/{lead_id}", headers=ADMIN)).status_code == 404
    assert outbox(farm.data_dir) == [], "the outbox copy is gone too"
    assert await next_due(farm.backend, enrolment) is None
    hashed = email_hash("erase.me@delta.example")
    for table, where in (
        (leads, leads.c.lead_id == lead_id),
        (enrolments, enrolments.c.lead_id == lead_id),
        (messages, messages.c.lead_id == lead_id),
        (engagements, engagements.c.lead_id == lead_id),
        (consents, consents.c.email_hash == hashed),
    ):
        assert await farm.count(table, where) == 0, table.name
    [entry] = (await farm.get("/nurture/v1/suppressions", headers=ADMIN)).json()
    assert (entry["email_hash"], entry["reason"]) == (hashed, "erased")
    again = await farm.post("/nurture/v1/erasures", json={"lead_id": lead_id}, headers=ADMIN)
    assert again.json()["lead_ids"] == [lead_id]
    assert sum(again.json()["erased"].values()) == 0


async def test_tracks_and_templates_through_the_manager_api(farm: Farm) -> None:
    listed = (await farm.get("/nurture/v1/tracks", headers=ADMIN)).json()
    assert [t["id"] for t in listed] == [
        "returned-unreached",
        "returned-not-now",
        "warmed-not-ready",
        "long-term-executives",
        "long-term-default",
    ]
    default = (await farm.get("/nurture/v1/tracks/long-term-default", headers=ADMIN)).json()
    assert default["origin"] == "file"
    assert (default["updated_at"], default["changed_by"]) == (None, None)
    assert len(default["schedule"]) == 17
    assert (await farm.get("/nurture/v1/tracks", headers={})).status_code == 401

    bad_template = await farm.put(
        "/nurture/v1/templates/webinar-invite",
        json={"subject": "Hi", "text": "Hello {{ lead.first_name "},
        headers=ADMIN,
    )
    assert bad_template.status_code == 422
    assert bad_template.json()["errors"][0]["field"] == "text"
    track = {
        "name": "Webinar follow-up",
        "priority": 100,
        "when": {"triggers": ["deferred"], "product_interests": ["lead routing"]},
        "steps": [
            {"day": 0, "action": "email", "template": "webinar-invite"},
            {"day": 2, "action": "wait"},
        ],
    }
    missing = await farm.put("/nurture/v1/tracks/webinar", json=track, headers=ADMIN)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "steps.0.template"
    invalid = await farm.put(
        "/nurture/v1/tracks/webinar",
        json={**track, "steps": [{"day": 0, "action": "email"}]},
        headers=ADMIN,
    )
    assert invalid.status_code == 422
    assert (
        await farm.put("/nurture/v1/tracks/Bad_Id", json=track, headers=ADMIN)
    ).status_code == 422

    template = {
        "subject": "Your seat at {{ lead.company }}'s webinar",
        "text": "Hello {{ lead.first_name }}, join us.",
        "html": "<p>Hello {{ lead.first_name }}</p>",
    }
    created = await farm.put("/nurture/v1/templates/webinar-invite", json=template, headers=ADMIN)
    assert created.status_code == 201
    assert (
        await farm.put("/nurture/v1/templates/webinar-invite", json=template, headers=ADMIN)
    ).status_code == 200
    put = await farm.put("/nurture/v1/tracks/webinar", json=track, headers=ADMIN)
    assert put.status_code == 201, put.text
    assert put.json()["origin"] == "api"
    assert [s["day"] for s in put.json()["schedule"]] == [0, 2]
    # Who changed it, and when, as the API records it.
    got = (await farm.get("/nurture/v1/tracks/webinar", headers=ADMIN)).json()
    assert got["changed_by"] == {"key_id": "env-admin", "name": "LEADFARM_ADMIN_KEY"}
    assert got["updated_at"] == put.json()["updated_at"] is not None

    lead_id, _ = await enrol(
        farm.backend, email="ann@epsilon.example", product_interest=["Lead Routing"]
    )
    assert (await view(farm.backend, lead_id))["track"] == "webinar"
    await fire(farm.backend)
    [mail] = outbox(farm.data_dir)
    assert mail["Subject"] == "Your seat at Beta Ltd's webinar"
    stats = (await farm.get("/nurture/v1/tracks/webinar/stats", headers=ADMIN)).json()
    assert (stats["enrolled"], stats["emails_sent"], stats["touched"]) == (1, 1, 1)
    # Per step of the schedule: the email was had, and the lead now waits for the wait step.
    assert [(s["number"], s["day"], s["reached"], s["waiting"]) for s in stats["steps"]] == [
        (1, 0, 1, 0),
        (2, 2, 0, 1),
    ]
    assert (await farm.get("/nurture/v1/tracks/nope/stats", headers=ADMIN)).status_code == 404

    assert (await farm.delete("/nurture/v1/tracks/webinar", headers=ADMIN)).status_code == 409
    assert (
        await farm.delete("/nurture/v1/tracks/long-term-default", headers=ADMIN)
    ).status_code == 409
    # A file track can be overridden through the API and reverted by deleting the override.
    override = {**default, "name": "Long-term (shorter)"}
    for key in ("id", "origin", "version", "schedule", "updated_at", "changed_by"):
        override.pop(key)
    override["repeat"] = None
    assert (
        await farm.put("/nurture/v1/tracks/long-term-default", json=override, headers=ADMIN)
    ).json()["schedule"][-1]["day"] == 90
    assert (
        await farm.delete("/nurture/v1/tracks/long-term-default", headers=ADMIN)
    ).status_code == 204
    reverted = (await farm.get("/nurture/v1/tracks/long-term-default", headers=ADMIN)).json()
    assert (reverted["origin"], reverted["name"]) == ("file", "Long-term")


def lead_profile(email: str, **fields: Any) -> LeadProfile:
    return LeadProfile(email=email, source="test", company="Beta Ltd", **fields)


async def test_one_active_enrolment_per_lead_and_leaving_when_qualified(farm: Farm) -> None:
    lead_id, enrolment = await enrol(farm.backend, email="one@zeta.example")
    now = datetime.now(UTC)
    returned = LeadReturned(
        lead_id=lead_id,
        rep_id="ana",
        reason="cadence exhausted",
        lead=lead_profile("one@zeta.example", consent_email=False),
    )
    await farm.backend.inject("router", lead_id, make_envelope(returned, time=now).to_json())

    async def profile_updated() -> dict[str, Any] | None:
        status = await view(farm.backend, lead_id)
        return status if status["consent"]["basis"] is None else None

    status = await eventually(profile_updated)
    assert status["consent"]["detail"] == "declined email when the lead was captured"
    assert status["id"] == enrolment, "still the one enrolment"
    assert await farm.count(enrolments, enrolments.c.lead_id == lead_id) == 1

    qualified = LeadQualified(
        lead_id=lead_id,
        decision=Decision(
            lifecycle="prospect",
            stage="sales_qualified",
            term="short",
            score=80,
            definition_version="test",
        ),
        lead=lead_profile("one@zeta.example"),
    )
    await farm.backend.inject("qualifier", lead_id, make_envelope(qualified, time=now).to_json())

    async def exited() -> dict[str, Any] | None:
        status = await view(farm.backend, lead_id)
        return status if status["status"] == "exited" else None

    status = await eventually(exited)
    assert status["end_reason"] == "qualified: sales-ready, routed to sales"
    assert await next_due(farm.backend, enrolment) is None
    await settle(farm.backend)


async def test_leads_decided_together_leave_nurture_each_with_its_reason(farm: Farm) -> None:
    first, first_enrolment = await enrol(farm.backend, email="two@zeta.example")
    second, _ = await enrol(farm.backend, email="three@zeta.example")
    now = datetime.now(UTC)
    decided = [
        LeadDisqualified(lead_id=first, reason="a competitor", definition_version="test"),
        LeadDisqualified(lead_id="never-enrolled", reason="spam", definition_version="test"),
        LeadQualified(
            lead_id=second,
            decision=Decision(
                lifecycle="prospect",
                stage="sales_qualified",
                term="short",
                score=80,
                definition_version="test",
            ),
            lead=lead_profile("three@zeta.example"),
        ),
    ]
    for data in decided:
        envelope = make_envelope(data, time=now)
        await farm.backend.inject("qualifier", data.lead_id, envelope.to_json())

    async def both_exited() -> list[dict[str, Any]] | None:
        views = [await view(farm.backend, lead) for lead in (first, second)]
        return views if all(v["status"] == "exited" for v in views) else None

    one, two = await eventually(both_exited)
    assert one["end_reason"] == "disqualified: a competitor"
    assert two["end_reason"] == "qualified: sales-ready, routed to sales"
    assert await next_due(farm.backend, first_enrolment) is None
    await settle(farm.backend)


async def test_a_late_event_does_not_re_enrol_a_person_erased_through_nurture(
    farm: Farm,
) -> None:
    lead_id, _ = await enrol(farm.backend, email="gone@delta.example")
    erased = await farm.post("/nurture/v1/erasures", json={"lead_id": lead_id}, headers=ADMIN)
    assert erased.status_code == 200, erased.text
    returned = LeadReturned(
        lead_id=lead_id,
        rep_id="ana",
        reason="cadence exhausted",
        lead=lead_profile("gone@delta.example", first_name="Gone"),
    )
    envelope = make_envelope(returned, time=datetime.now(UTC))
    await farm.backend.inject("router", lead_id, envelope.to_json())

    async def handled() -> bool:
        nurture = inbox.c.consumer.endswith(".nurture")
        return await farm.count(inbox, inbox.c.event_id == envelope.id, nurture) == 1

    await eventually(handled)
    assert await farm.count(leads, leads.c.lead_id == lead_id) == 0, "no profile came back"
    assert await farm.count(enrolments, enrolments.c.lead_id == lead_id) == 0


async def test_a_lead_not_in_nurture_is_a_404_that_says_so(farm: Farm) -> None:
    """The messages name nurture, as written (a mechanical rename once turned them into
    "deps.nurture")."""
    http = farm.backend.client("nurture")
    missing = await http.get("/nurture/v1/leads/lead-nowhere", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Lead 'lead-nowhere' is not in nurture."
    engagement = await http.post(
        "/nurture/v1/engagements",
        json={"lead_id": "lead-nowhere", "type": "clicked"},
        headers=ADMIN,
    )
    assert engagement.status_code == 404, engagement.text
    assert engagement.json()["detail"].endswith("; engagement is recorded for leads in nurture.")
