"""Contact-cadence SLAs and accountability through the router's own database: met,
breached (and reassigned), exhausted, expired, suspended, reinstated; rep actions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from router import repository
from router.records import Changer, Closing, NewOpportunity, Rejection
from services.errors import Conflict
from tests.scenarios.router import World, world_at


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[World]:
    """Judged after two obligations, so a test can see a suspension."""
    async with world_at(tmp_path, compliance_min_obligations=2) as w:
        yield w


async def test_a_first_touch_in_time_is_met(world: World) -> None:
    await world.rep("ana")
    lead_id = await world.qualify()
    world.advance(minutes=3)
    await world.log(lead_id, "call", "no_answer")
    view = await world.view(lead_id)
    assert (view.first_touch, view.touched_at) == ("met", world.clock.now())
    world.advance(minutes=10)
    assert await world.timers.fire_due() == 0, "the first-touch timer was cancelled"
    assert await world.events("sla.breached") == []


async def test_a_missed_first_touch_goes_to_the_next_eligible_rep(world: World) -> None:
    await world.rep("ana")
    await world.rep("bo")
    lead_id = await world.qualify()
    assert (await world.view(lead_id)).rep_id == "ana"
    world.advance(minutes=5)
    assert await world.timers.fire_due() == 1
    (breach,) = await world.events("sla.breached")
    assert breach["data"]["rep_id"] == "ana"
    assert breach["data"]["sla"] == "first_touch"
    assert breach["data"]["action"] == "reassigned to bo"
    (moved,) = await world.events("lead.reassigned")
    assert moved["data"]["from_rep_id"] == "ana"
    assert moved["data"]["rep_id"] == "bo"
    assert moved["data"]["reason"] == "first touch missed by ana"
    view = await world.view(lead_id)
    assert view.rep_id == "bo"
    assert view.first_touch_due_at == world.clock.now() + timedelta(minutes=5)
    assert [(h.rep_id, h.end_reason, h.first_touch) for h in view.history] == [
        ("ana", "first_touch_missed", "breached"),
        ("bo", None, "pending"),
    ]
    assert view.explanation is not None
    assert view.explanation["excluded"] == ["ana"]
    assert view.explanation["considered"][0]["skipped"] == "excluded"
    # bo misses too: ana had it already, so no one else; it stays with bo.
    world.advance(minutes=5)
    assert await world.timers.fire_due() == 1
    last = (await world.events("sla.breached"))[-1]["data"]
    assert last["action"].startswith("kept by bo: no other eligible rep")
    assert (await world.view(lead_id)).rep_id == "bo"


async def test_with_one_rep_a_missed_first_touch_stays_with_her(world: World) -> None:
    await world.rep("ana")
    lead_id = await world.qualify()
    world.advance(minutes=6)
    assert await world.timers.fire_due() == 1
    (breach,) = await world.events("sla.breached")
    assert (
        breach["data"]["action"]
        == "kept by ana: no other eligible rep (no eligible rep (excluded))"
    )
    view = await world.view(lead_id)
    assert (view.rep_id, view.status, view.first_touch) == ("ana", "assigned", "breached")
    assert await world.timers.fire_due() == 0, "one breach, once"


async def test_a_pool_can_keep_missed_leads_and_a_rep_away_is_not_blamed(world: World) -> None:
    monday = world.clock.now()
    await world.rep("ana")
    await world.rep("bo")
    await world.pool("keep", strategy="round_robin", sla={"reassign_on_missed_first_touch": False})
    await world.rule("all", pool="keep")
    kept = await world.qualify()
    world.advance(minutes=5)
    await world.timers.fire_due()
    assert (await world.events("sla.breached"))[-1]["data"]["action"] == (
        "kept by ana: pool keep does not reassign missed first touches"
    )
    assert (await world.view(kept)).rep_id == "ana"
    # bo leaves for the afternoon right after his lead is assigned.
    away = await world.qualify()
    assert (await world.view(away)).rep_id == "bo"
    out = [{"start": monday.isoformat(), "end": (monday + timedelta(hours=8)).isoformat()}]
    await world.update_rep("bo", out_of_office=out)
    world.advance(minutes=5)
    await world.timers.fire_due()
    breach = (await world.events("sla.breached"))[-1]["data"]
    assert "bo was out of office, so it does not count against them" in breach["action"]
    assert (await world.view(away)).first_touch == "void"


async def test_an_exhausted_cadence_returns_the_lead_for_nurture(world: World) -> None:
    await world.rep("ana")
    lead_id = await world.qualify(email="dana@acme.example")
    await world.log(lead_id, "call", "no_answer")
    world.advance(minutes=30)
    await world.log(lead_id, "call", "voicemail")  # too soon after the first: not counted
    view = await world.view(lead_id)
    assert view.cadence is not None
    assert (view.cadence.calls.made, view.cadence.calls.counted) == (2, 1)
    for _ in range(3):
        world.advance(hours=2)
        await world.log(lead_id, "call", "no_answer")
    world.advance(hours=2)
    await world.log(lead_id, "email", "sent")
    assert (await world.view(lead_id)).status == "assigned", "one email still due"
    world.advance(days=1)
    await world.log(lead_id, "email", "sent")
    (returned,) = await world.events("lead.returned")
    assert returned["data"]["reason_code"] == "cadence_exhausted"
    assert returned["data"]["rep_id"] == "ana"
    assert returned["data"]["lead"]["email"] == "dana@acme.example"
    assert "4 calls and 2 emails without a connection" in returned["data"]["reason"]
    view = await world.view(lead_id)
    assert view.status == "returned"
    assert view.cadence is not None
    assert view.cadence.status == "exhausted"
    assert view.history[-1].end_reason == "cadence_exhausted"
    assert await world.timers.fire_due() == 0
    with pytest.raises(Conflict, match="returned; it takes no activities"):
        await world.log(lead_id, "call", "connected")


async def test_a_connection_completes_the_cadence(world: World) -> None:
    await world.rep("ana")
    lead_id = await world.qualify()
    await world.log(lead_id, "call", "no_answer")
    world.advance(hours=3)
    await world.log(lead_id, "call", "connected")
    view = await world.view(lead_id)
    assert view.cadence is not None
    assert view.cadence.status == "connected"
    world.advance(days=30)
    assert await world.timers.fire_due() == 0, "nothing left to fire"


async def test_a_cadence_window_that_closes_short_is_a_breach_and_a_return(world: World) -> None:
    await world.rep("ana")
    lead_id = await world.qualify()
    await world.log(lead_id, "call", "no_answer")
    # Monday 09:00: the tenth business day closes on Friday the 16th at 17:00.
    assert (await world.view(lead_id)).cadence.due_at == datetime(  # type: ignore[union-attr]
        2026, 1, 16, 17, 0, tzinfo=UTC
    )
    world.clock.set(datetime(2026, 1, 16, 17, 0, tzinfo=UTC))
    assert await world.timers.fire_due() == 1
    (breach,) = await world.events("sla.breached")
    assert breach["data"]["sla"] == "cadence"
    assert "1 of 4 calls and 0 of 2 emails" in breach["data"]["action"]
    (returned,) = await world.events("lead.returned")
    assert returned["data"]["reason_code"] == "cadence_expired"


async def test_a_rep_below_the_threshold_is_suspended_until_reinstated(strict: World) -> None:
    world = strict
    await world.rep("ana")
    await world.rep("bo")
    await world.pool("keep", strategy="round_robin", sla={"reassign_on_missed_first_touch": False})
    await world.rule("all", pool="keep")
    leads = [await world.qualify() for _ in range(4)]
    holders = [(await world.view(i)).rep_id for i in leads]
    assert holders == ["ana", "bo", "ana", "bo"]
    for lead_id, rep_id in zip(leads, holders, strict=True):
        if rep_id == "bo":
            await world.log(lead_id, "call", "connected")
    world.advance(minutes=5)
    assert await world.timers.fire_due() == 2
    (suspended,) = await world.events("rep.suspended")
    assert suspended["subject"] == "rep:ana"
    assert suspended["data"]["lead_id"] == ""
    assert suspended["data"]["compliance"] == 0.0
    assert "0 of 2 SLA obligations met" in suspended["data"]["reason"]
    async with world.unit.read() as conn:
        ana = await repository.reps.get_rep(conn, "ana")
        assert ana is not None
        report = await world.router.compliance(conn, ana, world.clock.now())
    assert ana.suspended
    assert (report.first_touch.due, report.first_touch.met, report.compliance) == (2, 0, 0.0)

    later = [await world.view(await world.qualify()) for _ in range(3)]
    assert [v.rep_id for v in later] == ["bo", "bo", "bo"]
    assert later[0].explanation is not None
    skipped = {c["rep_id"]: c["skipped"] for c in later[0].explanation["considered"]}
    assert skipped["ana"] == "suspended"

    world.advance(minutes=1)
    async with world.unit.transaction() as tx:
        await world.router.reinstate(tx, ana, "coached", Changer("test", None))
    async with world.unit.read() as conn:
        ana = await repository.reps.get_rep(conn, "ana")
        assert ana is not None
        fresh = await world.router.compliance(conn, ana, world.clock.now())
    assert (fresh.since, fresh.reinstated_at) == (world.clock.now(), world.clock.now())
    assert (fresh.obligations, fresh.compliance, fresh.first_touch.due) == (0, None, 0), (
        "the view counts what the next judgement counts: nothing before the reinstatement"
    )
    assert (await world.view(await world.qualify())).rep_id == "ana"
    (reinstated,) = await world.events("rep.reinstated")
    assert reinstated["data"]["reason"] == "coached"
    # Judged afresh: the misses before the reinstatement do not suspend her again.
    newest = (await world.view(await world.qualify())).lead_id
    await world.log(newest, "call", "connected")  # bo's; keeps bo compliant
    assert len(await world.events("rep.suspended")) == 1


async def test_cadence_windows_closing_short_suspend_the_rep(strict: World) -> None:
    """The re-judgement when a cadence window closes: first touches met, then every cadence
    breached, and only the cadence timers can take the rep out of the distribution."""
    world = strict
    await world.rep("ana")
    leads = [await world.qualify() for _ in range(2)]
    for lead_id in leads:
        await world.log(lead_id, "call", "no_answer")
    assert await world.events("rep.suspended") == [], "two of two met"
    due = (await world.view(leads[0])).cadence.due_at  # type: ignore[union-attr]
    world.clock.set(due)
    assert await world.timers.fire_due() == 2
    (suspended,) = await world.events("rep.suspended")
    assert suspended["subject"] == "rep:ana"
    assert "2 of 3 SLA obligations met" in suspended["data"]["reason"]
    async with world.unit.read() as conn:
        ana = await repository.reps.get_rep(conn, "ana")
    assert ana is not None
    assert ana.suspended


async def test_a_met_obligation_that_leaves_the_rep_below_the_threshold_suspends(
    strict: World,
) -> None:
    """Every resolved obligation re-judges the rep, a met one too: a miss judged too early
    (one obligation) and then a touch make one of two, which suspends; after the
    reinstatement a miss and an opportunity make two of three."""
    world = strict
    await world.rep("ana")
    missed = await world.qualify()
    world.advance(minutes=5)
    assert await world.timers.fire_due() == 1
    assert await world.events("rep.suspended") == [], "one obligation is not judged"
    await world.log(await world.qualify(), "call", "no_answer")
    (suspended,) = await world.events("rep.suspended")
    assert "1 of 2 SLA obligations met" in suspended["data"]["reason"]

    world.advance(minutes=1)
    async with world.unit.transaction() as tx:
        ana = await repository.reps.get_rep(tx, "ana")
        assert ana is not None
        await world.router.reinstate(tx, ana, "coached", Changer("test", None))
    await world.qualify()
    world.advance(minutes=5)
    assert await world.timers.fire_due() == 1
    worked = await world.qualify()
    async with world.unit.transaction() as tx:
        lead = await repository.leads.get_lead(tx, worked)
        assert lead is not None
        await world.router.open_opportunity(tx, lead, NewOpportunity(amount=Decimal("100")), None)
    assert len(await world.events("rep.suspended")) == 2
    assert (await world.view(missed)).first_touch == "breached"


async def test_accept_reject_and_an_opportunity_won(world: World) -> None:
    await world.rep("ana")
    await world.rep("bo")
    lead_id = await world.qualify()
    async with world.unit.transaction() as tx:
        lead = await repository.leads.get_lead(tx, lead_id)
        assert lead is not None
        await world.router.accept(tx, lead, None)
    assert (await world.view(lead_id)).status == "accepted"
    async with world.unit.transaction() as tx:
        lead = await repository.leads.get_lead(tx, lead_id)
        assert lead is not None
        outcome = await world.router.reject(tx, lead, Rejection(reason="my ex-employer"), None)
    assert outcome == "reassigned"
    (rejected,) = await world.events("lead.rejected")
    assert (rejected["data"]["rep_id"], rejected["data"]["outcome"]) == ("ana", "reassigned")
    view = await world.view(lead_id)
    assert view.rep_id == "bo"
    assert view.history[0].first_touch == "void", "a rejected lead is not held against ana"

    async with world.unit.transaction() as tx:
        lead = await repository.leads.get_lead(tx, lead_id)
        assert lead is not None
        opportunity = await world.router.open_opportunity(
            tx, lead, NewOpportunity(amount=Decimal("12000"), currency="EUR", name="Rollout"), None
        )
    view = await world.view(lead_id)
    assert (view.status, view.first_touch) == ("opportunity", "met")
    async with world.unit.transaction() as tx:
        closed = await world.router.close_opportunity(
            tx, opportunity, Closing(won=True, amount=Decimal("15000")), None
        )
    assert (closed.status, closed.amount) == ("won", Decimal("15000"))
    (won,) = await world.events("opportunity.closed")
    assert won["data"]["won"] is True
    assert won["data"]["amount"] == "15000"
    assert won["data"]["currency"] == "EUR"
    assert (await world.view(lead_id)).status == "won"
    assert len(await world.events("opportunity.opened")) == 1


async def test_a_rejected_lead_nobody_else_can_take_goes_back_to_marketing(world: World) -> None:
    await world.rep("ana")
    lead_id = await world.qualify()
    async with world.unit.transaction() as tx:
        lead = await repository.leads.get_lead(tx, lead_id)
        assert lead is not None
        assert await world.router.reject(tx, lead, Rejection(reason="student"), None) == "returned"
    (returned,) = await world.events("lead.returned")
    assert returned["data"]["reason"] == "rejected by ana: student; no other eligible rep"
    assert returned["data"]["reason_code"] == "rejected"
