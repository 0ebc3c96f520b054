"""The pool strategies and eligibility, as pure decisions."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from contracts.events import LeadProfile
from router.calendar import DEFAULT_HOURS, Calendar
from router.distribution import Load, PoolPolicy, RepView, distribute

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEAD = LeadProfile(source="website", country="US", region="CA", language="es")


def rep(rep_id: str, **changes: object) -> RepView:
    values: dict[str, object] = {
        "id": rep_id,
        "name": rep_id.title(),
        "active": True,
        "suspended": False,
        "weight": 1,
        "max_open_leads": None,
        "daily_cap": None,
        "territories": (),
        "languages": (),
        "out_of_office": (),
        "calendar": Calendar.of("UTC", DEFAULT_HOURS),
    }
    values.update(changes)
    return RepView(**values)  # type: ignore[arg-type]


def test_weighted_round_robin_keeps_each_reps_share_of_1000_leads() -> None:
    weights = {"ana": 1, "bo": 2, "cy": 3, "di": 4, "ed": 5}
    reps = [rep(r, weight=w) for r, w in weights.items()]
    currents = dict.fromkeys(weights, 0)
    got: Counter[str] = Counter()
    pool = PoolPolicy("p", "weighted_round_robin")
    for _ in range(1000):
        pick = distribute(
            pool, [(r, Load(current=currents[r.id])) for r in reps], lead=LEAD, now=MONDAY
        )
        assert pick.rep is not None
        got[pick.rep.id] += 1
        currents.update(pick.currents)
    total = sum(weights.values())
    for rep_id, weight in weights.items():
        assert abs(got[rep_id] / 1000 - weight / total) < 0.02, got
    # Smooth: the heaviest rep never gets a long run while others wait.
    order = []
    currents = dict.fromkeys(weights, 0)
    for _ in range(total):
        pick = distribute(
            pool, [(r, Load(current=currents[r.id])) for r in reps], lead=LEAD, now=MONDAY
        )
        assert pick.rep is not None
        order.append(pick.rep.id)
        currents.update(pick.currents)
    assert Counter(order) == Counter(weights)


def test_round_robin_takes_the_next_eligible_rep_after_the_cursor() -> None:
    reps = [(rep("ana"), Load()), (rep("bo", active=False), Load()), (rep("cy"), Load())]
    pool = PoolPolicy("p", "round_robin")
    assert distribute(pool, reps, lead=LEAD, now=MONDAY).rep.id == "ana"  # type: ignore[union-attr]
    after_ana = distribute(pool, reps, lead=LEAD, now=MONDAY, cursor="ana")
    assert after_ana.rep is not None
    assert after_ana.rep.id == "cy", "bo is inactive"
    assert after_ana.cursor == "cy"
    wrapped = distribute(pool, reps, lead=LEAD, now=MONDAY, cursor="cy")
    assert wrapped.rep is not None
    assert wrapped.rep.id == "ana"


def test_least_loaded_compares_open_leads_against_capacity() -> None:
    pool = PoolPolicy("p", "least_loaded", default_capacity=50)
    reps = [
        (rep("ana", max_open_leads=10), Load(open_leads=5)),  # 50%
        (rep("bo", max_open_leads=40), Load(open_leads=10)),  # 25%
        (rep("cy"), Load(open_leads=20)),  # 40% of the default 50
    ]
    pick = distribute(pool, reps, lead=LEAD, now=MONDAY)
    assert pick.rep is not None
    assert pick.rep.id == "bo"
    assert "10 open leads of capacity 40" in pick.why
    # Ties go to the rep who waited longest.
    tied = [
        (rep("ana"), Load(open_leads=1, last_assigned_at=MONDAY)),
        (rep("bo"), Load(open_leads=1, last_assigned_at=MONDAY - timedelta(hours=1))),
    ]
    assert distribute(pool, tied, lead=LEAD, now=MONDAY).rep.id == "bo"  # type: ignore[union-attr]


def test_the_account_owner_comes_first_even_from_outside_the_pool() -> None:
    pool = PoolPolicy("p", "account_owner_first", owner_fallback="round_robin")
    members = [(rep("ana"), Load()), (rep("bo"), Load())]
    owner = (rep("zed"), Load())
    pick = distribute(pool, members, lead=LEAD, now=MONDAY, owner=owner, owner_domain="acme.io")
    assert pick.rep is not None
    assert pick.rep.id == "zed"
    assert pick.why == "owns the account acme.io"
    assert pick.considered[0].role == "account_owner"
    away = (rep("zed", out_of_office=((MONDAY, MONDAY + timedelta(days=3)),)), Load())
    fallback = distribute(pool, members, lead=LEAD, now=MONDAY, owner=away, owner_domain="acme.io")
    assert fallback.rep is not None
    assert fallback.rep.id == "ana"
    assert fallback.strategy == "round_robin"
    assert fallback.why.startswith("the owner of acme.io cannot take it")
    assert fallback.considered[0].skipped == "out_of_office"


def test_every_skip_has_its_reason() -> None:
    pool = PoolPolicy("p", "round_robin", outside_hours="skip", match_territory=True)
    pool_lang = PoolPolicy("p", "round_robin", match_language=True)
    tokyo = Calendar.of("Asia/Tokyo", DEFAULT_HOURS)
    cases = [
        (rep("a", active=False), Load(), pool, "inactive"),
        (rep("b", suspended=True), Load(), pool, "suspended"),
        (
            rep("c", out_of_office=((MONDAY, MONDAY + timedelta(hours=1)),)),
            Load(),
            pool,
            "out_of_office",
        ),
        (rep("d", territories=("US-NY", "CA")), Load(), pool, "territory"),
        (rep("e", max_open_leads=2), Load(open_leads=2), pool, "at_capacity"),
        (rep("f", daily_cap=3), Load(assigned_today=3), pool, "daily_cap"),
        (rep("g", calendar=tokyo), Load(), pool, "outside_hours"),
        (rep("h", languages=("en", "de")), Load(), pool_lang, "language"),
    ]
    for view, load, policy, reason in cases:
        pick = distribute(policy, [(view, load)], lead=LEAD, now=MONDAY)
        assert pick.outcome == "queue"
        assert pick.considered[0].skipped == reason, view.id
        assert reason in pick.why
    ok = distribute(pool, [(rep("i", territories=("US-CA",)), Load())], lead=LEAD, now=MONDAY)
    assert ok.outcome == "assign"
    excluded = distribute(
        pool, [(rep("j"), Load())], lead=LEAD, now=MONDAY, exclude=frozenset({"j"})
    )
    assert excluded.considered[0].skipped == "excluded"


def test_outside_hours_assign_hold_or_skip_per_pool() -> None:
    saturday = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    reps = [
        (rep("ana"), Load()),
        (rep("bo", calendar=Calendar.of("America/New_York", DEFAULT_HOURS)), Load()),
    ]
    assigned = distribute(PoolPolicy("p", "round_robin"), reps, lead=LEAD, now=saturday)
    assert assigned.outcome == "assign"
    assert "the SLA clock starts 2026-01-12T09:00" in assigned.considered[0].detail
    held = distribute(
        PoolPolicy("p", "round_robin", outside_hours="hold"), reps, lead=LEAD, now=saturday
    )
    assert held.outcome == "hold"
    assert held.held_until == datetime(2026, 1, 12, 9, 0, tzinfo=UTC), "ana's Monday comes first"
    skipped = distribute(
        PoolPolicy("p", "round_robin", outside_hours="skip"), reps, lead=LEAD, now=saturday
    )
    assert skipped.outcome == "queue"
    not_now = distribute(
        PoolPolicy("p", "round_robin", outside_hours="hold"),
        reps,
        lead=LEAD,
        now=saturday,
        may_hold=False,
    )
    assert not_now.outcome == "queue"
    assert distribute(PoolPolicy("p", "round_robin"), [], lead=LEAD, now=MONDAY).why == (
        "the pool has no reps"
    )


def test_a_team_holiday_is_said_as_a_holiday_not_as_outside_hours() -> None:
    """On a team holiday the explanation says so (a holiday, not the rep's hours), and a
    pool that holds waits for the holiday's end as it waits for working hours."""
    christmas = Calendar.of("UTC", DEFAULT_HOURS, [date(2026, 12, 25)])
    friday_noon = datetime(2026, 12, 25, 12, 0, tzinfo=UTC)
    reps = [(rep("ana", calendar=christmas), Load())]
    held = distribute(
        PoolPolicy("p", "round_robin", outside_hours="hold"), reps, lead=LEAD, now=friday_noon
    )
    (ana,) = held.considered
    assert (ana.skipped, ana.detail) == (
        "holiday",
        "a team holiday (2026-12-25) until 2026-12-28T09:00:00+00:00",
    )
    assert (held.outcome, held.held_until) == ("hold", datetime(2026, 12, 28, 9, 0, tzinfo=UTC))
    assert held.why == "every rep is on a holiday; held until 2026-12-28T09:00:00+00:00"
    queued = distribute(
        PoolPolicy("p", "round_robin", outside_hours="skip"), reps, lead=LEAD, now=friday_noon
    )
    assert queued.why == "no eligible rep (holiday)"
    assigned = distribute(PoolPolicy("p", "round_robin"), reps, lead=LEAD, now=friday_noon)
    assert assigned.considered[0].detail == (
        "eligible; a team holiday (2026-12-25), the SLA clock starts 2026-12-28T09:00:00+00:00"
    )
    evening = distribute(
        PoolPolicy("p", "round_robin", outside_hours="skip"),
        reps,
        lead=LEAD,
        now=datetime(2026, 12, 24, 18, 0, tzinfo=UTC),
    )
    assert evening.considered[0].skipped == "outside_hours", "the evening before is not one"
