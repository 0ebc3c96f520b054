"""Routing through the router's own database: rules, pools, fair shares, caps, holds, the
fallback queue, explanations and the dry run."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from router import repository
from router.models import cursors, leads, pool_reps
from router.schemas.teams import Holiday, TeamIn
from services.tables import outbox, timers
from tests.scenarios.router import World


async def test_weighted_shares_hold_through_the_database(world: World) -> None:
    """The same smooth weighted round robin as the 1,000-lead pure test
    (test_distribution), through the real path: state in router_pool_reps, one decision
    per transaction."""
    weights = {"ana": 1, "bo": 2, "cy": 3, "di": 4, "ed": 5}
    for rep_id, weight in weights.items():
        await world.rep(rep_id, weight=weight)
    timings = []
    for _ in range(300):
        started = time.perf_counter()
        await world.qualify()
        timings.append(time.perf_counter() - started)
    events = await world.events("lead.assigned")
    got = Counter(e["data"]["rep_id"] for e in events)
    total = sum(weights.values())
    assert sum(got.values()) == 300
    for rep_id, weight in weights.items():
        assert abs(got[rep_id] / 300 - weight / total) < 0.02, got
        assert abs(got[rep_id] - 300 * weight / total) <= 1, "smooth: within one lead"
    assert {e["data"]["strategy"] for e in events} == {"weighted_round_robin"}
    median = sorted(timings)[len(timings) // 2]
    assert median < 0.05, f"{median * 1000:.1f} ms per routing decision"


async def test_capacity_and_daily_caps_hold(world: World) -> None:
    await world.rep("ana", max_open_leads=3)
    await world.rep("bo", daily_cap=4)
    ids = [await world.qualify() for _ in range(9)]
    views = [await world.view(i) for i in ids]
    assert Counter(v.rep_id for v in views) == {"ana": 3, "bo": 4, None: 2}
    queued = views[-1]
    assert queued.status == "queued"
    assert queued.queue == "fallback"
    assert queued.explanation is not None
    skipped = {c["rep_id"]: c["skipped"] for c in queued.explanation["considered"]}
    assert skipped == {"ana": "at_capacity", "bo": "daily_cap"}
    assert "at_capacity, daily_cap" in queued.explanation["why"]
    assert len(await world.events("lead.queued")) == 2

    # A new local day lifts bo's daily cap; ana stays full until she closes leads.
    world.advance(days=1)
    tomorrow = await world.view(await world.qualify())
    assert tomorrow.rep_id == "bo"
    # Leads that leave the open state free capacity: an opportunity is no longer a lead.
    await world.log(ids[0], "call", "connected")
    from router.records import NewOpportunity

    async with world.unit.transaction() as tx:
        lead = await world.lead(ids[0])
        await world.router.open_opportunity(tx, lead, NewOpportunity(amount=Decimal(1000)), None)
    for _ in range(3):
        await world.qualify()
    ana = [e for e in await world.events("lead.assigned") if e["data"]["rep_id"] == "ana"]
    assert len(ana) == 4, "ana took one more lead once one of hers became an opportunity"


async def test_rules_choose_the_pool_and_the_explanation_names_every_rep(world: World) -> None:
    monday = world.clock.now()
    await world.rep("ana", languages=["de"], territories=["DE", "AT"])
    await world.rep("bo", languages=["de"], territories=["DE"])
    await world.rep("cy", active=False)
    await world.rep(
        "di",
        out_of_office=[
            {"start": monday.isoformat(), "end": (monday + timedelta(days=2)).isoformat()}
        ],
    )
    await world.rep("ed", territories=["FR"])
    await world.pool(
        "dach",
        strategy="round_robin",
        members=["ana", "bo", "cy", "di", "ed"],
        match_territory=True,
        match_language=True,
        sla={"first_touch_minutes": 15},
    )
    await world.rule(
        "big-dach",
        position=10,
        conditions={"countries": ["DE", "AT"], "employees_min": 500},
        pool="dach",
    )
    await world.rule("no-match", position=5, conditions={"industries": ["mining"]}, pool="dach")

    lead_id = await world.qualify(country="AT", employees=900, language="de")
    view = await world.view(lead_id)
    assert view.rep_id == "ana"
    assert view.pool == "dach"
    assert view.rule == "big-dach"
    assert view.first_touch_due_at == monday + timedelta(minutes=15), "the pool's own SLA"
    explanation = view.explanation
    assert explanation is not None
    assert explanation["rule"] == {"id": "big-dach", "name": "big-dach"}
    assert [r["rule"] for r in explanation["rules_checked"]] == ["no-match", "big-dach"]
    assert explanation["rules_checked"][0]["failed"] == ["industry unknown not in ['mining']"]
    reasons = {c["rep_id"]: (c["skipped"], c["detail"]) for c in explanation["considered"]}
    assert reasons["ana"] == (None, "eligible")
    assert reasons["bo"][0] == "territory"
    assert reasons["cy"][0] == "inactive"
    assert reasons["di"] == ("out_of_office", "out of office until 2026-01-07T09:00:00+00:00")
    assert reasons["ed"][0] == "territory"
    assert explanation["why"] == "first in turn"

    elsewhere = await world.view(await world.qualify(country="FR", employees=900))
    assert elsewhere.pool == "everyone"
    assert elsewhere.rule == "default"
    assert elsewhere.explanation is not None
    assert elsewhere.explanation["rule"]["name"] == "no rule matched"


async def test_a_pool_that_holds_waits_for_the_next_reps_working_hours(world: World) -> None:
    world.clock.set(datetime(2026, 1, 10, 12, 0, tzinfo=UTC))  # a Saturday
    await world.rep("ana", time_zone="Europe/Berlin")
    await world.rep("bo", time_zone="America/New_York")
    await world.pool("hold", strategy="round_robin", outside_hours="hold")
    await world.rule("all", conditions={}, pool="hold")
    lead_id = await world.qualify()
    held = await world.view(lead_id)
    monday_berlin = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
    assert (held.status, held.queue, held.held_until) == ("held", "hold", monday_berlin)
    queued = (await world.events("lead.queued"))[-1]["data"]
    assert queued["queue"] == "hold"
    assert queued["held_until"] == "2026-01-12T08:00:00Z"

    world.clock.set(monday_berlin)
    assert await world.timers.fire_due() == 1
    assigned = await world.view(lead_id)
    assert assigned.rep_id == "ana", "only Berlin is at work at 09:00 CET"
    assert assigned.first_touch_due_at == monday_berlin + timedelta(minutes=5)
    assert assigned.explanation is not None
    assert assigned.explanation["trigger"] == "held lead released at working hours"


async def test_the_dry_run_answers_without_side_effects(world: World) -> None:
    from contracts.events import LeadProfile
    from router.schemas.dry_run import DryRunLead

    await world.rep("ana")
    await world.rep("bo")
    await world.qualify()
    before = [await world.count(t) for t in (outbox, timers, leads, pool_reps, cursors)]
    async with world.unit.read() as conn:
        profile = LeadProfile.model_validate(DryRunLead(country="DE").model_dump())
        routing = await world.router.begin(conn)
        decision = await world.router.decide(
            conn, routing, profile, 70, now=world.clock.now(), trigger="dry run"
        )
    after = [await world.count(t) for t in (outbox, timers, leads, pool_reps, cursors)]
    assert before == after
    assert decision.pick.rep is not None
    assert decision.pick.rep.id == "bo", "the next in turn after ana"
    assert decision.explanation["trigger"] == "dry run"


async def test_the_account_owner_gets_their_accounts_leads(world: World) -> None:
    await world.rep("ana")
    await world.rep("bo")
    await world.rep("owner")
    await world.pool("named", strategy="account_owner_first", members=["ana", "bo"])
    await world.rule("all", conditions={}, pool="named")
    async with world.unit.transaction() as tx:
        from router import repository

        await repository.accounts.upsert_account(tx, "acme.example", "owner")
    mine = await world.view(await world.qualify(email="dana@acme.example"))
    assert mine.rep_id == "owner"
    assert mine.explanation is not None
    assert mine.explanation["why"] == "owns the account acme.example"
    assert mine.explanation["account"] == {"domain": "acme.example", "owner": "owner"}
    other = await world.view(await world.qualify(company_domain="beta.example"))
    assert other.rep_id == "ana"
    assert other.strategy == "round_robin"


async def test_a_lead_qualified_twice_is_routed_once_unless_it_came_back(world: World) -> None:
    await world.rep("ana")
    lead_id = await world.qualify()
    await world.qualify(lead_id=lead_id)
    assert len(await world.events("lead.assigned")) == 1
    from router.records import Rejection

    async with world.unit.transaction() as tx:
        lead = await world.lead(lead_id)
        outcome = await world.router.reject(
            tx, lead, Rejection(reason="wrong person", disposition="return"), None
        )
    assert outcome == "returned"
    await world.qualify(lead_id=lead_id)
    assert len(await world.events("lead.assigned")) == 2, "returned, nurtured, qualified again"


async def test_a_lead_a_rep_sourced_stays_with_that_rep_unless_the_pool_says_otherwise(
    world: World,
) -> None:
    """Rep prospecting and referrals at the close: the rep who found the lead keeps it, even
    at capacity or out of their territory or hours; a rep who cannot work any lead (or who
    had it already) hands it to the pool; a pool may distribute such leads itself."""
    await world.rep("ana", time_zone="Asia/Tokyo")
    await world.rep("bo", territories=["FR"], time_zone="Asia/Tokyo")  # 18:00 in Tokyo
    everyone = {"strategy": "round_robin", "match_territory": True, "outside_hours": "skip"}
    await world.pool("everyone", **everyone)
    lead_id = await world.qualify(country="DE", source_class="referrals", sourced_by_rep_id="bo")
    view = await world.view(lead_id)
    assert view.rep_id == "bo"
    assert view.strategy == "sourcing_rep"
    assert view.explanation is not None
    assert view.explanation["why"] == "sourced by bo, who keeps it"
    assert [(c["rep_id"], c["role"]) for c in view.explanation["considered"]] == [
        ("bo", "sourcing_rep")
    ]
    (assigned,) = await world.events("lead.assigned")
    assert assigned["data"]["why"] == "sourced by bo, who keeps it"

    # bo misses the first touch (five minutes into his Tuesday): the pool gets the lead.
    assert view.first_touch_due_at == datetime(2026, 1, 6, 0, 5, tzinfo=UTC)
    world.clock.set(view.first_touch_due_at)
    assert await world.timers.fire_due() == 1
    moved = await world.view(lead_id)
    assert moved.rep_id == "ana"
    assert moved.explanation is not None
    assert "sourced by bo, who cannot take it: excluded" in moved.explanation["why"]

    await world.update_rep("bo", suspended_at=world.clock.now(), suspended_reason="test")
    suspended = await world.view(await world.qualify(country="DE", sourced_by_rep_id="bo"))
    assert suspended.rep_id == "ana"
    assert suspended.explanation is not None
    assert suspended.explanation["why"].endswith("(sourced by bo, who cannot take it: suspended)")

    await world.update_rep("bo", suspended_at=None)
    await world.pool("everyone", **everyone, sourced_leads="pool")
    pooled = await world.view(await world.qualify(country="DE", sourced_by_rep_id="bo"))
    assert pooled.rep_id == "ana", "bo does not cover DE, and the pool distributes it"
    assert pooled.explanation is not None
    assert pooled.explanation["why"].endswith("(sourced by bo; pool everyone distributes it)")


async def test_a_team_holiday_is_explained_as_one(world: World) -> None:
    world.clock.set(datetime(2026, 12, 25, 12, 0, tzinfo=UTC))
    async with world.unit.transaction() as tx:
        team = TeamIn(name="DACH", holidays=[Holiday(date=date(2026, 12, 25), name="X")])
        await repository.teams.upsert_team(tx, "dach", team.model_dump(mode="json"))
    await world.rep("ana", team_id="dach", time_zone="Europe/Berlin")
    await world.pool("everyone", strategy="round_robin", outside_hours="skip")
    view = await world.view(await world.qualify())
    assert view.status == "queued"
    assert view.explanation is not None
    (ana,) = view.explanation["considered"]
    assert ana["skipped"] == "holiday"
    assert ana["detail"].startswith("a team holiday (2026-12-25, X) until 2026-12-28T08:00:00")
