"""The qualifier end to end on both runtimes: the shipped definitions route the seeds' cases
(qualified to the router, deferred to nurture, disqualified with a reason), and closed
opportunities teach the model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from contracts.events import LeadProfile, OpportunityClosed, make_envelope
from contracts.topics import topic_for
from qualifier.definitions import DEFAULT_FILE
from services import metrics
from services.runtime import Runtime, cluster_runtime
from tests.backends import ADMIN, Backend, ClusterBackend, eventually
from tests.integration.test_flow import LONG_TERM, SALES_READY

QUALIFIED = "leadfarm.lead.qualified.v1"
DEFERRED = "leadfarm.lead.deferred.v1"
DISQUALIFIED = "leadfarm.lead.disqualified.v1"
OUTCOMES = (QUALIFIED, DEFERRED, DISQUALIFIED)

ACME = {"company": "Acme GmbH", "country": "DE", "source": "website"}

# (case, lead as posted to ingest, event the qualifier says, what its data must hold)
CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    (
        "sales-ready",
        SALES_READY,
        QUALIFIED,
        {"stage": "sales_qualified", "term": "short", "lifecycle": "prospect"},
    ),
    ("long-term", LONG_TERM, DEFERRED, {"term": "long", "lifecycle": "suspect"}),
    (
        "no company, a year out",
        {"email": "later@beta.example", "timeframe_days": 365},
        DEFERRED,
        {"lifecycle": "suspect"},
    ),
    (
        "no source, no name",
        {
            "email": "dana@acme.example",
            "company": "Acme",
            "country": "DE",
            "timeframe_days": 30,
            "asked_to_be_contacted": True,
        },
        QUALIFIED,
        {"stage": "sales_qualified"},
    ),
    (
        "a name and an address only",
        {"first_name": "Jo", "last_name": "Kim", "email": "jo@kim-consulting.example"},
        DEFERRED,
        {"lifecycle": "target", "stage": "basic_qualified"},
    ),
    (
        "fits and is choosing a supplier",
        {**ACME, "email": "sam@acme.example", "need": "reps lose web leads"},
        DEFERRED,
        {"lifecycle": "suspect"},
    ),
    (
        "a six-month timeframe",
        {**ACME, "email": "kim@acme.example", "timeframe_days": 180, "asked_to_be_contacted": True},
        DEFERRED,
        {"lifecycle": "prospect", "term": "long"},
    ),
    (
        "a test lead",
        {**ACME, "email": "test@acme.example", "timeframe_days": 30, "is_test": True},
        DISQUALIFIED,
        {"reason": "test lead", "disqualifiers": ["test_lead"]},
    ),
    (
        "free mail",
        {**ACME, "email": "dana.lee@gmail.com", "timeframe_days": 30},
        DISQUALIFIED,
        {"reason": "free-mail address (gmail.com) for B2B", "disqualifiers": ["free_mail"]},
    ),
    (
        "a competitor",
        {"email": "spy@rival-leads.example", "company": "Rival", "asked_to_be_contacted": True},
        DISQUALIFIED,
        {"reason": "competitor domain rival-leads.example"},
    ),
    (
        "a student",
        {**ACME, "email": "stud@acme.example", "job_title": "Working Student"},
        DISQUALIFIED,
        {"disqualifiers": ["student_or_job_seeker"]},
    ),
    (
        "a badge scan with no interest",
        {**ACME, "email": "visitor@acme.example", "source_class": "events"},
        DISQUALIFIED,
        {"reason": "events badge scan with no stated interest"},
    ),
]


def said(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] in OUTCOMES]


async def test_the_shipped_definitions_route_the_seeds_cases(backend: Backend) -> None:
    ids = {name: await backend.post_lead(**lead) for name, lead, _, _ in CASES}
    for name, _, expected, fields in CASES:
        events = await backend.timeline_with(ids[name], expected)
        (outcome,) = said(events)
        assert outcome["source"] == "/leadfarm/qualifier"
        data = outcome["data"]
        holder = data if expected == DISQUALIFIED else data["decision"]
        assert {k: holder[k] for k in fields} == fields, name
        assert holder["definition_version"] == "2026.03-default-1"
        if expected != DISQUALIFIED:
            assert data["decision"]["criteria"], "the criteria travel with the decision"
            assert data["lead"]["email"]

    later = await backend.timeline_with(ids["long-term"], "leadfarm.nurture.enrolled.v1")
    assert "leadfarm.nurture.enrolled.v1" in [e["type"] for e in later]


async def test_a_rep_sourced_lead_qualifies_the_same_way(backend: Backend) -> None:
    http = backend.client("ingest")
    key = await http.post(
        "/admin/v1/keys", json={"name": "ana", "scope": "rep", "rep_id": "ana"}, headers=ADMIN
    )
    rep = {"Authorization": f"Bearer {key.json()['key']}"}
    lead = {"company": "Happy Customer", "timeframe_days": 30, "asked_to_be_contacted": True}
    by_rep = await http.post(
        "/ingest/v1/leads", json={**lead, "email": "ref@happy.example"}, headers=rep
    )
    assert by_rep.status_code == 202
    by_marketing = await backend.post_lead(**lead, email="web@happy.example")
    decisions = []
    for lead_id in (by_rep.json()["lead_id"], by_marketing):
        events = await backend.timeline_with(lead_id, QUALIFIED)
        (event,) = said(events)
        decisions.append(event["data"]["decision"])
    rep_decision, marketing_decision = decisions
    assert rep_decision == marketing_decision


def closed(lead_id: str, opportunity_id: str, won: bool, industry: str) -> bytes:
    profile = LeadProfile(
        email=f"buyer@{industry.lower()}.example",
        company=f"{industry} AG",
        industry=industry,
        employees=120,
        country="DE",
        source="website",
    )
    event = OpportunityClosed(
        lead_id=lead_id,
        opportunity_id=opportunity_id,
        rep_id="ana",
        won=won,
        amount=Decimal("25000.00"),
        lead=profile,
    )
    return make_envelope(event, time=datetime.now(UTC)).to_json()


async def test_closed_opportunities_update_the_model(backend: Backend) -> None:
    http = backend.client("qualifier")
    empty = (await http.get("/qualifier/v1/model", headers=ADMIN)).json()
    assert (empty["outcomes"], empty["version"], empty["attributes"]) == (0, None, [])

    won_lead, lost_lead = str(uuid.uuid4()), str(uuid.uuid4())
    won = closed(won_lead, "opp-1", True, "Robotics")
    await backend.inject("router", won_lead, won)
    await backend.inject("router", won_lead, won)  # the same event again: the inbox skips it
    # Another event about the same opportunity and result: the outcome's key skips it.
    await backend.inject("router", won_lead, closed(won_lead, "opp-1", True, "Robotics"))
    await backend.inject("router", lost_lead, closed(lost_lead, "opp-2", False, "Hospitality"))

    async def learned() -> dict[str, Any] | None:
        model: dict[str, Any] = (await http.get("/qualifier/v1/model", headers=ADMIN)).json()
        return model if model["outcomes"] == 2 else None

    model = await eventually(learned, timeout=60)
    await backend.timeline_with(won_lead, "leadfarm.opportunity.closed.v1")
    model = (await http.get("/qualifier/v1/model", headers=ADMIN)).json()
    assert (model["outcomes"], model["wins"], model["losses"]) == (2, 1, 1)
    assert model["version"] is None, "not before the minimum number of outcomes"
    assert model["min_outcomes"] == 20
    top = model["attributes"][0]
    assert (top["attribute"], top["value"], top["wins"], top["outcomes"]) == (
        "industry",
        "robotics",
        1,
        1,
    )
    assert top["lift"] > 1
    by_attribute = await http.get(
        "/qualifier/v1/model", params={"attribute": "employee_band"}, headers=ADMIN
    )
    assert by_attribute.json()["attributes"] == [
        {
            "attribute": "employee_band",
            "value": "50-249",
            "wins": 1,
            "losses": 1,
            "outcomes": 2,
            "win_rate": 0.5,
            "lift": 1.0,
        }
    ]


async def test_a_definitions_change_reevaluates_open_leads(backend: Backend) -> None:
    six_months = await backend.post_lead(
        **ACME, email="six@acme.example", timeframe_days=180, asked_to_be_contacted=True
    )
    await backend.timeline_with(six_months, DEFERRED)
    http = backend.client("qualifier")
    text = (
        DEFAULT_FILE.read_text()
        .replace('version: "2026.03-default-1"', "version: half-year")
        .replace("short_term_days: 90", "short_term_days: 190")
    )
    response = await http.put(
        "/qualifier/v1/definitions?reevaluate=true",
        content=text,
        headers={**ADMIN, "Content-Type": "text/plain"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["reevaluation"]["changes"] == [
        {"lead_id": six_months, "before": "deferred", "after": "qualified"}
    ]
    events = await backend.timeline_with(six_months, QUALIFIED)
    qualified = next(e for e in events if e["type"] == QUALIFIED)
    assert qualified["data"]["decision"]["definition_version"] == "half-year"
    history = (await http.get("/qualifier/v1/definitions/history", headers=ADMIN)).json()
    assert [h["version"] for h in history] == ["half-year", "2026.03-default-1"]


def with_short_term(version: str, days: int) -> str:
    return (
        DEFAULT_FILE.read_text()
        .replace('version: "2026.03-default-1"', f"version: {version}")
        .replace("short_term_days: 90", f"short_term_days: {days}")
    )


async def test_a_definitions_change_takes_effect_for_the_next_lead_on_every_replica(
    backend: Backend,
) -> None:
    """The definitions are kept in memory by each qualifier (replica) and reloaded once
    after a change, whichever replica the change was made through; never per lead."""
    replicas: list[Runtime] = [backend.runtimes["qualifier"]]
    if isinstance(backend, ClusterBackend):
        replicas.append(cluster_runtime(backend.settings, "qualifier"))
        await replicas[1].start()
    try:
        if isinstance(backend, ClusterBackend):
            ingest = topic_for("ingest", backend.settings.topic_namespace)

            async def both_in_the_group() -> bool:
                owned = [
                    sum(
                        1
                        for tp in getattr(r.consumers[0].subscription, "_consumer").assignment()  # noqa: B009
                        if tp.topic == ingest
                    )
                    for r in replicas
                ]
                return all(owned)

            await eventually(both_in_the_group, timeout=60)

        http = backend.client("qualifier")
        reloads = metrics.REFERENCE_RELOADS.labels("qualifier", "definitions")

        async def decide_one(version: str, outcome: str) -> None:
            lead_id = await backend.post_lead(
                **ACME,
                email=f"{uuid.uuid4().hex[:12]}@acme.example",
                timeframe_days=180,
                asked_to_be_contacted=True,
            )

            async def decided() -> dict[str, Any] | None:
                response = await http.get(f"/qualifier/v1/leads/{lead_id}/decision", headers=ADMIN)
                return response.json() if response.status_code == 200 else None

            decision = await eventually(decided, timeout=60)
            assert (decision["definition_version"], decision["outcome"]) == (version, outcome)

        # A half-year lead: qualified while short term is 190 days, deferred at 20.
        for version, days, outcome in (("half-year", 190, "qualified"), ("soon", 20, "deferred")):
            response = await http.put(
                "/qualifier/v1/definitions",
                content=with_short_term(version, days),
                headers={**ADMIN, "Content-Type": "text/plain"},
            )
            assert response.status_code == 201, response.text
            before = reloads._value.get()
            # Leads until every replica has decided one (each reloads once): every one of
            # them, the very next included, is decided under the new version.
            for _ in range(20):
                await decide_one(version, outcome)
                if reloads._value.get() - before >= len(replicas):
                    break
            assert reloads._value.get() - before == len(replicas), (
                "each replica reloads the definitions once after the change"
            )
        for _ in range(3):
            await decide_one("soon", "deferred")
        assert reloads._value.get() - before == len(replicas), "nothing reloads per lead"
    finally:
        if len(replicas) > 1:
            await replicas[1].stop()
