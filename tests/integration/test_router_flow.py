"""The router on both runtimes, with the clock moved by the test: a qualified lead is
assigned with its explanation and the reps' tools hear of it (signed webhooks to a real
local receiver); every SLA path: met, breached and reassigned, exhausted and returned to
nurture, a rep suspended and reinstated; a rep acts only on their own leads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from services.clock import ManualClock
from tests.backends import ADMIN, Backend, ClusterBackend, EmbeddedBackend, eventually
from tests.integration.test_flow import SALES_READY, types

ASSIGNED = "leadfarm.lead.assigned.v1"


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
async def routed(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Backend, ManualClock]]:
    # Judge reps after two obligations, so a test can watch a suspension happen.
    monkeypatch.setenv("LEADFARM_ROUTER_COMPLIANCE_MIN_OBLIGATIONS", "2")
    clock = ManualClock()
    backend: Backend
    if request.param == "embedded":
        backend = await EmbeddedBackend(tmp_path, clock=clock, timer_poll_interval_s=3600).start()
    else:
        database = request.getfixturevalue("pg_database")
        kafka = request.getfixturevalue("kafka")
        backend = await ClusterBackend(
            database.url, kafka, clock=clock, timer_poll_interval_s=3600
        ).start()
    yield backend, clock
    await backend.stop()


async def add_rep(backend: Backend, rep_id: str, **fields: Any) -> dict[str, str]:
    """Add a rep; returns the headers of a rep key of theirs."""
    body = {"id": rep_id, "name": rep_id.title(), "email": f"{rep_id}@example.com", **fields}
    response = await backend.client("router").post("/router/v1/reps", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    key = await backend.client("ingest").post(
        "/admin/v1/keys", json={"name": rep_id, "scope": "rep", "rep_id": rep_id}, headers=ADMIN
    )
    return {"Authorization": f"Bearer {key.json()['key']}"}


def person(n: int) -> dict[str, Any]:
    """A different sales-ready person each time (ingest merges the same email or phone)."""
    return {**SALES_READY, "email": f"buyer{n}@acme.example", "phone": f"+49 30 555{n:04d}"}


async def assigned(backend: Backend, n: int) -> tuple[str, str]:
    lead_id = await backend.post_lead(**person(n))
    events = await backend.timeline_with(lead_id, ASSIGNED)
    rep_id = next(e for e in events if e["type"] == ASSIGNED)["data"]["rep_id"]
    return lead_id, rep_id


async def fire(backend: Backend) -> int:
    return await backend.runtimes["router"].timer_runners["router"].fire_due()


def receiver(got: list[dict[str, Any]], secret: dict[str, str]) -> ASGIApp:
    """A rep's tool: verifies every delivery's Standard Webhooks signature."""
    lock = threading.Lock()

    async def hook(request: Request) -> Response:
        body = await request.body()
        msg_id = request.headers["webhook-id"]
        timestamp = request.headers["webhook-timestamp"]
        key = base64.b64decode(secret["value"].removeprefix("whsec_"))
        expected = base64.b64encode(
            hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        ).decode()
        offered = [s.partition(",")[2] for s in request.headers["webhook-signature"].split()]
        if not any(hmac.compare_digest(expected, s) for s in offered):
            return Response(status_code=401)
        with lock:
            got.append({"id": msg_id, **orjson.loads(body)})
        return Response(status_code=204)

    return Starlette(routes=[Route("/hooks", hook, methods=["POST"])])


async def test_a_lead_is_assigned_with_its_explanation_and_the_reps_tools_hear_of_it(
    routed: tuple[Backend, ManualClock], serve_api: Callable[[ASGIApp], str]
) -> None:
    backend, clock = routed
    router = backend.client("router")
    got: list[dict[str, Any]] = []
    secret: dict[str, str] = {}
    base = serve_api(receiver(got, secret))
    created = await router.post(
        "/router/v1/subscriptions",
        json={"url": f"{base}/hooks", "events": ["lead.assigned"], "description": "the CRM"},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    secret["value"] = created.json()["secret"]
    assert created.json()["events"] == [ASSIGNED]

    now = clock.now()
    away = [{"start": now.isoformat(), "end": (now + timedelta(days=1)).isoformat()}]
    ana = await add_rep(backend, "ana", time_zone="Europe/Berlin")
    await add_rep(backend, "bo", out_of_office=away)
    lead_id, rep_id = await assigned(backend, 1)
    assert rep_id == "ana"

    response = await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ana)
    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["rep_id"], view["status"], view["pool"], view["rule"]) == (
        "ana",
        "assigned",
        "everyone",
        "default",
    )
    # 09:00 UTC is 10:00 in Berlin: five business minutes.
    assert view["first_touch_due_at"] == "2026-01-05T09:05:00Z"
    assert view["cadence"]["due_at"] == "2026-01-16T16:00:00Z", "Friday week, 17:00 CET"
    explanation = view["explanation"]
    assert explanation["strategy"] == "weighted_round_robin"
    considered = {c["rep_id"]: c for c in explanation["considered"]}
    assert considered["ana"]["eligible"] is True
    assert considered["bo"]["skipped"] == "out_of_office"
    assert explanation["chosen"] == "ana"

    async def delivered() -> list[dict[str, Any]]:
        return [g for g in got if g["subject"] == lead_id]

    (hook,) = await eventually(delivered)
    assert hook["type"] == ASSIGNED
    assert hook["data"]["rep_id"] == "ana"
    assert hook["data"]["lead"]["email"] == "buyer1@acme.example"
    assert hook["data"]["first_touch_due_at"] == "2026-01-05T09:05:00Z"

    async def marked_delivered() -> list[str] | None:
        # The receiver hears the hook before the router records the 2xx it answered.
        response = await router.get(
            f"/router/v1/subscriptions/{created.json()['id']}/deliveries", headers=ADMIN
        )
        statuses = [d["status"] for d in response.json()]
        return statuses if statuses == ["delivered"] else None

    assert await eventually(marked_delivered) == ["delivered"]

    # The dry run answers and says nothing. (The timeline is complete once audit has put
    # the lead on the forecast, but for a sampled lead's audit: see below.)
    before = types(await backend.timeline_with(lead_id, ASSIGNED, "leadfarm.forecast.changed.v1"))
    dry = await router.post(
        "/router/v1/route:dry-run", json={"lead": {"country": "DE"}, "score": 70}, headers=ADMIN
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["outcome"] == "assign"
    assert dry.json()["rep_id"] == "ana", "bo is still away"
    # Nothing new, but perhaps the Prospect Satisfaction audit a tenth of leads get, which
    # audit may archive after the forecast entry.
    after = Counter(types(await backend.timeline(lead_id)))
    assert not Counter(before) - after
    assert set(after - Counter(before)) <= {"leadfarm.audit.opened.v1"}
    queue = await router.get("/router/v1/reps/ana/leads", headers=ana)
    assert [item["lead_id"] for item in queue.json()] == [lead_id]


async def test_a_missed_first_touch_reassigns_and_a_rep_acts_only_on_their_own_leads(
    routed: tuple[Backend, ManualClock],
) -> None:
    backend, clock = routed
    router = backend.client("router")
    ana = await add_rep(backend, "ana")
    bo = await add_rep(backend, "bo")
    missed, first = await assigned(backend, 1)
    worked, second = await assigned(backend, 2)
    assert (first, second) == ("ana", "bo")

    call = {"channel": "call", "outcome": "connected"}
    base = f"/router/v1/leads/{worked}"
    for method, path, body in [
        ("GET", "/assignment", None),
        ("POST", "/activities", call),
        ("POST", "/accept", None),
        ("POST", "/reject", {"reason": "mine now"}),
        ("POST", "/opportunities", {"amount": "100"}),
        ("GET", "/opportunities", None),
    ]:
        response = await router.request(method, base + path, json=body, headers=ana)
        assert response.status_code == 404, f"ana {method} {path}: {response.status_code}"
    assert (await router.get("/router/v1/reps/bo/leads", headers=ana)).status_code == 404
    assert (await router.get("/router/v1/reps/bo/compliance", headers=ana)).status_code == 404

    assert (await router.post(f"{base}/accept", headers=bo)).json()["status"] == "accepted"
    logged = await router.post(f"{base}/activities", json=call, headers=bo)
    assert logged.status_code == 201, logged.text
    assert logged.json()["connected"] is True
    opened = await router.post(
        f"{base}/opportunities", json={"amount": "25000.00", "currency": "EUR"}, headers=bo
    )
    assert opened.status_code == 201, opened.text
    closed = await router.post(
        f"/router/v1/opportunities/{opened.json()['id']}/close",
        json={"won": True},
        headers=bo,
    )
    assert closed.json()["status"] == "won"

    clock.advance(timedelta(minutes=4))
    assert await fire(backend) == 0
    clock.advance(timedelta(minutes=1))
    assert await fire(backend) == 1, "only the untouched lead's deadline"

    events = await backend.timeline_with(missed, "leadfarm.lead.reassigned.v1")
    breach = next(e for e in events if e["type"] == "leadfarm.sla.breached.v1")["data"]
    assert (breach["rep_id"], breach["sla"], breach["action"]) == (
        "ana",
        "first_touch",
        "reassigned to bo",
    )
    moved = next(e for e in events if e["type"] == "leadfarm.lead.reassigned.v1")["data"]
    assert (moved["from_rep_id"], moved["rep_id"]) == ("ana", "bo")
    assert (
        await router.get(f"/router/v1/leads/{missed}/assignment", headers=ana)
    ).status_code == 404, "ana lost it"
    mine = await router.get("/router/v1/reps/bo/leads", headers=bo)
    assert [item["lead_id"] for item in mine.json()] == [missed], "won leads are not open"
    worked_events = await backend.timeline_with(worked, "leadfarm.opportunity.closed.v1")
    assert "leadfarm.sla.breached.v1" not in types(worked_events)
    compliance = (await router.get("/router/v1/reps/ana/compliance", headers=ana)).json()
    assert compliance["first_touch"] == {"due": 1, "met": 0, "share": 0.0}


async def test_an_exhausted_cadence_returns_the_lead_to_nurture(
    routed: tuple[Backend, ManualClock],
) -> None:
    backend, clock = routed
    router = backend.client("router")
    ana = await add_rep(backend, "ana")
    lead_id, _ = await assigned(backend, 1)
    path = f"/router/v1/leads/{lead_id}/activities"
    attempts = [("call", "no_answer"), ("email", "sent"), ("call", "voicemail")]
    attempts += [("call", "bad_number"), ("email", "bounced"), ("call", "no_answer")]
    for channel, outcome in attempts:
        response = await router.post(
            path, json={"channel": channel, "outcome": outcome}, headers=ana
        )
        assert response.status_code == 201, response.text
        assert response.json()["counted"] is True
        clock.advance(timedelta(days=1))

    events = await backend.timeline_with(
        lead_id, "leadfarm.lead.returned.v1", "leadfarm.nurture.enrolled.v1"
    )
    returned = next(e for e in events if e["type"] == "leadfarm.lead.returned.v1")["data"]
    assert returned["reason_code"] == "cadence_exhausted"
    assert returned["rep_id"] == "ana"
    view = (await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ana)).json()
    assert view["status"] == "returned"
    assert view["cadence"]["status"] == "exhausted"
    assert view["cadence"]["calls"] == {"required": 4, "counted": 4, "made": 4}
    late = await router.post(path, json={"channel": "call", "outcome": "connected"}, headers=ana)
    assert late.status_code == 409
    compliance = (await router.get("/router/v1/reps/ana/compliance", headers=ana)).json()
    assert compliance["obligations"] == 2
    assert compliance["compliance"] == 1.0, "first touch met, cadence completed"


async def test_a_rep_below_the_threshold_stops_receiving_leads_until_reinstated(
    routed: tuple[Backend, ManualClock],
) -> None:
    backend, clock = routed
    router = backend.client("router")
    ana = await add_rep(backend, "ana")
    bo = await add_rep(backend, "bo")
    pool = {"strategy": "round_robin", "sla": {"reassign_on_missed_first_touch": False}}
    response = await router.put("/router/v1/pools/keep", json=pool, headers=ADMIN)
    assert response.status_code == 201, response.text
    response = await router.put("/router/v1/rules/all", json={"pool": "keep"}, headers=ADMIN)
    assert response.status_code == 201, response.text

    leads = [await assigned(backend, n) for n in range(4)]
    assert [rep for _, rep in leads] == ["ana", "bo", "ana", "bo"]
    for lead_id, rep in leads:
        if rep == "bo":
            call = {"channel": "call", "outcome": "connected"}
            logged = await router.post(
                f"/router/v1/leads/{lead_id}/activities", json=call, headers=bo
            )
            assert logged.status_code == 201
    clock.advance(timedelta(minutes=5))
    assert await fire(backend) == 2

    async def suspended() -> dict[str, Any] | None:
        rep = (await router.get("/router/v1/reps/ana", headers=ADMIN)).json()
        return rep if rep["suspended"] else None

    ana_now = await eventually(suspended)
    assert "0 of 2 SLA obligations met" in ana_now["suspended_reason"]
    assert (ana_now["suspended_by"], ana_now["changed_by"]) == (None, None), "the router's"
    compliance = (await router.get("/router/v1/reps/ana/compliance", headers=ana)).json()
    assert (compliance["compliance"], compliance["suspended"]) == (0.0, True)

    later = [await assigned(backend, n) for n in range(4, 6)]
    assert [rep for _, rep in later] == ["bo", "bo"]
    view = (await router.get(f"/router/v1/leads/{later[0][0]}/assignment", headers=bo)).json()
    skipped = {c["rep_id"]: c["skipped"] for c in view["explanation"]["considered"]}
    assert skipped == {"ana": "suspended", "bo": None}

    reinstated = await router.post(
        "/router/v1/reps/ana/reinstate", json={"reason": "coached"}, headers=ADMIN
    )
    assert reinstated.status_code == 200, reinstated.text
    assert reinstated.json()["suspended"] is False
    fresh = (await router.get("/router/v1/reps/ana/compliance", headers=ana)).json()
    assert (fresh["obligations"], fresh["compliance"], fresh["suspended"]) == (0, None, False)
    assert fresh["since"] == fresh["reinstated_at"] == reinstated.json()["reinstated_at"]
    assert (await assigned(backend, 6))[1] == "ana"


async def test_an_erased_lead_is_never_routed_again(routed: tuple[Backend, ManualClock]) -> None:
    """Erasure cancels the router's deadlines for the lead: a missed first touch of an
    erased person neither reassigns them to another rep nor counts against the rep."""
    backend, clock = routed
    await add_rep(backend, "ana")
    await add_rep(backend, "bo")
    lead_id, rep_id = await assigned(backend, 7)
    audit = backend.client("audit")
    asked = await audit.post("/audit/v1/erasures", json={"lead_id": lead_id}, headers=ADMIN)
    assert asked.status_code == 201, asked.text

    async def router_confirmed() -> bool:
        response = await audit.get(f"/audit/v1/erasures/{asked.json()['id']}", headers=ADMIN)
        return "router" in {c["service"] for c in response.json()["confirmations"]}

    await eventually(router_confirmed)
    clock.advance(timedelta(days=30))
    assert await fire(backend) == 0, "no deadline of the erased lead is left to fire"
    router = backend.client("router")
    view = await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ADMIN)
    assert view.json()["rep_id"] == rep_id, "still with the same rep: nobody else is told"
    compliance = await router.get(f"/router/v1/reps/{rep_id}/compliance", headers=ADMIN)
    assert compliance.json()["first_touch"]["due"] == 0


async def audit_rows(backend: Backend, metric: str, rep_id: str) -> dict[str, Any]:
    response = await backend.client("audit").get(
        f"/audit/v1/metrics/{metric}", params={"by": "rep"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    row: dict[str, Any] = next(r for r in response.json()["rows"] if r["rep_id"] == rep_id)
    return row


async def test_router_and_audit_agree_on_what_a_touch_is(
    routed: tuple[Backend, ManualClock],
) -> None:
    """An opportunity opened without a logged call is the first touch for both the router's
    SLA and audit's follow-up rate and SLA compliance; a note is a touch for neither."""
    backend, clock = routed
    router = backend.client("router")
    ana = await add_rep(backend, "ana")
    closers = [(await assigned(backend, n))[0] for n in (1, 2)]
    noted, _ = await assigned(backend, 3)
    clock.advance(timedelta(minutes=2))
    for lead_id in closers:
        opened = await router.post(
            f"/router/v1/leads/{lead_id}/opportunities", json={"amount": "9000"}, headers=ana
        )
        assert opened.status_code == 201, opened.text
    note = {"channel": "note", "outcome": "other", "note": "left a message with reception"}
    logged = await router.post(f"/router/v1/leads/{noted}/activities", json=note, headers=ana)
    assert logged.status_code == 201, logged.text
    clock.advance(timedelta(minutes=3))
    assert await fire(backend) == 1, "the noted lead's first touch was missed"

    compliance = (await router.get("/router/v1/reps/ana/compliance", headers=ana)).json()
    assert compliance["first_touch"] == {"due": 3, "met": 2, "share": 0.6667}
    for lead_id in closers:
        await backend.timeline_with(lead_id, "leadfarm.opportunity.opened.v1")
    await backend.timeline_with(noted, "leadfarm.sla.breached.v1")
    audit = backend.client("audit")
    for lead_id, touched in [(closers[0], True), (closers[1], True), (noted, False)]:
        summary = (await audit.get(f"/audit/v1/leads/{lead_id}", headers=ADMIN)).json()
        assert (summary["first_touch_at"] is not None) is touched, summary
    follow_up = await audit_rows(backend, "follow-up", "ana")
    assert (follow_up["assigned"], follow_up["touched"], follow_up["touched_within_sla"]) == (
        3,
        2,
        2,
    )
    sla = await audit_rows(backend, "sla", "ana")
    assert (sla["due"], sla["met"], sla["compliance"]) == (3, 2, 0.6667)


async def test_a_lead_a_rep_found_stays_with_them_and_they_can_see_it(
    routed: tuple[Backend, ManualClock],
) -> None:
    """A referral a rep logs through ingest (sourced_by_rep_id) is assigned to that rep,
    not to the pool's next in turn; a pool set to distribute such leads does so, and the
    rep who found the lead can still read where it went, but not act on it."""
    backend, _ = routed
    router = backend.client("router")
    await add_rep(backend, "ana")
    bo = await add_rep(backend, "bo")

    async def found(n: int) -> dict[str, Any]:
        referral = {**person(n), "source_class": "referrals"}
        response = await backend.client("ingest").post(
            "/ingest/v1/leads", json=referral, headers=bo
        )
        assert response.status_code == 202, response.text
        events = await backend.timeline_with(response.json()["lead_id"], ASSIGNED)
        data: dict[str, Any] = next(e for e in events if e["type"] == ASSIGNED)["data"]
        assert data["lead"]["sourced_by_rep_id"] == "bo"
        return data

    kept = await found(1)
    assert (kept["rep_id"], kept["strategy"], kept["why"]) == (
        "bo",
        "sourcing_rep",
        "sourced by bo, who keeps it",
    )
    view = await router.get(f"/router/v1/leads/{kept['lead_id']}/assignment", headers=bo)
    assert view.status_code == 200, view.text
    assert view.json()["explanation"]["why"] == "sourced by bo, who keeps it"

    pool = {"strategy": "round_robin", "sourced_leads": "pool"}
    response = await router.put("/router/v1/pools/everyone", json=pool, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["sourced_leads"] == "pool"
    pooled = await found(2)
    assert pooled["rep_id"] == "ana"
    assert pooled["why"] == "first in turn (sourced by bo; pool everyone distributes it)"
    path = f"/router/v1/leads/{pooled['lead_id']}"
    seen = await router.get(f"{path}/assignment", headers=bo)
    assert seen.status_code == 200, seen.text
    assert seen.json()["rep_id"] == "ana"
    call = {"channel": "call", "outcome": "connected"}
    assert (await router.post(f"{path}/activities", json=call, headers=bo)).status_code == 404


async def test_cadence_windows_that_close_short_suspend_the_rep(
    routed: tuple[Backend, ManualClock],
) -> None:
    """First touches met, then both cadence windows close with attempts missing: the
    re-judgement at each window's close takes the rep out of the distribution."""
    backend, clock = routed
    router = backend.client("router")
    ana = await add_rep(backend, "ana")
    leads = [(await assigned(backend, n))[0] for n in (1, 2)]
    call = {"channel": "call", "outcome": "no_answer"}
    for lead_id in leads:
        logged = await router.post(f"/router/v1/leads/{lead_id}/activities", json=call, headers=ana)
        assert logged.status_code == 201, logged.text
    view = (await router.get(f"/router/v1/leads/{leads[0]}/assignment", headers=ana)).json()
    assert (await router.get("/router/v1/reps/ana", headers=ADMIN)).json()["suspended"] is False
    clock.set(datetime.fromisoformat(view["cadence"]["due_at"]))
    assert await fire(backend) == 2

    async def suspended() -> dict[str, Any] | None:
        rep = (await router.get("/router/v1/reps/ana", headers=ADMIN)).json()
        return rep if rep["suspended"] else None

    ana_now = await eventually(suspended)
    assert "2 of 3 SLA obligations met" in ana_now["suspended_reason"]
    compliance = (await router.get("/router/v1/reps/ana/compliance", headers=ana)).json()
    assert compliance["cadence"] == {"due": 2, "met": 0, "share": 0.0}


async def test_a_lead_on_a_public_holiday_of_the_teams_country_waits_for_the_next_business_day(
    routed: tuple[Backend, ManualClock],
) -> None:
    """Cesar Chavez Day (Tuesday 31 March 2026) is a California holiday: a lead arriving at
    10:00 that day is due at 09:05 the next morning, and the explanation says why. The
    team's calendar is changed through the API between leads, and routing sees each change."""
    backend, clock = routed
    router = backend.client("router")
    clock.set(datetime(2026, 3, 31, 17, 0, tzinfo=UTC))  # 10:00 in Los Angeles (PDT)
    team = {"name": "West", "country": "US"}
    assert (await router.put("/router/v1/teams/west", json=team, headers=ADMIN)).is_success
    ana = await add_rep(backend, "ana", team_id="west", time_zone="America/Los_Angeles")

    async def first_touch(n: int) -> dict[str, Any]:
        lead_id, _ = await assigned(backend, n)
        view = await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ana)
        assert view.status_code == 200, view.text
        result: dict[str, Any] = view.json()
        return result

    federal = await first_touch(1)
    assert federal["first_touch_due_at"] == "2026-03-31T17:05:00Z", "not a US-wide holiday"

    team["subdivision"] = "CA"
    assert (await router.put("/router/v1/teams/west", json=team, headers=ADMIN)).is_success
    holiday = await first_touch(2)
    assert holiday["first_touch_due_at"] == "2026-04-01T16:05:00Z", "09:05 on Wednesday"
    (considered,) = holiday["explanation"]["considered"]
    assert considered["detail"] == (
        "eligible; a public holiday (2026-03-31, Cesar Chavez Day), "
        "the SLA clock starts 2026-04-01T16:00:00+00:00"
    )

    worked = {**team, "worked_holidays": ["2026-03-31"]}
    assert (await router.put("/router/v1/teams/west", json=worked, headers=ADMIN)).is_success
    assert (await first_touch(3))["first_touch_due_at"] == "2026-03-31T17:05:00Z"

    # The package's longest subdivision name (17 characters) is stored on PostgreSQL too.
    brazil = {"name": "SP", "country": "BR", "subdivision": "são paulo capital"}
    stored = await router.put("/router/v1/teams/sp", json=brazil, headers=ADMIN)
    assert stored.status_code == 201, stored.text
    assert stored.json()["subdivision"] == "São Paulo Capital"
