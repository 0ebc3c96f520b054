"""Who gets the lead: eligibility and the pool strategies, as pure functions.

`distribute` takes what the router knows at the moment of the decision (the pool, its
members with their load, the account owner, the strategy's state) and returns the pick
with every rep considered and why each was skipped. It reads no clock and no database, so
the dry run, the consumer and the tests all use the same decision.

Strategies:
- `round_robin`: the next eligible rep after the last one served (by id).
- `weighted_round_robin`: smooth weighted round robin (the nginx algorithm): each eligible
  rep's counter grows by its weight, the highest counter wins and gives back the total.
  Over any run of decisions each rep's share is within one lead of its weight's share.
- `least_loaded`: the lowest open leads against capacity (`max_open_leads`, or the pool's
  default capacity for uncapped reps), then fewer open leads, then the longest wait.
- `account_owner_first`: the owner of the lead's company domain when eligible (a member of
  the pool or not), else the pool's `owner_fallback` strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from contracts.events import LeadProfile
from router.calendar import Calendar
from router.rules import primary_language

Strategy = Literal["round_robin", "weighted_round_robin", "least_loaded", "account_owner_first"]
FallbackStrategy = Literal["round_robin", "weighted_round_robin", "least_loaded"]
OutsideHours = Literal["assign", "hold", "skip"]
SourcedLeads = Literal["sourcing_rep", "pool"]
Outcome = Literal["assign", "hold", "queue"]
SkipReason = Literal[
    "excluded",
    "inactive",
    "suspended",
    "out_of_office",
    "territory",
    "language",
    "at_capacity",
    "daily_cap",
    "holiday",
    "outside_hours",
]
WAITING: frozenset[str] = frozenset({"holiday", "outside_hours"})
"""Skip reasons that end when the rep's working hours start again (a pool may hold)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RepView:
    """A rep as routing sees them."""

    id: str
    name: str
    active: bool
    suspended: bool
    weight: int
    max_open_leads: int | None
    daily_cap: int | None
    territories: tuple[str, ...]
    languages: tuple[str, ...]
    out_of_office: tuple[tuple[datetime, datetime], ...]
    calendar: Calendar


@dataclass(frozen=True)
class Load:
    """A rep's load now, and the pool strategy's state for them."""

    open_leads: int = 0
    assigned_today: int = 0
    current: int = 0
    """Smooth weighted round robin counter in this pool."""
    last_assigned_at: datetime | None = None


@dataclass(frozen=True)
class PoolPolicy:
    id: str
    strategy: Strategy
    outside_hours: OutsideHours = "assign"
    match_territory: bool = False
    match_language: bool = False
    owner_fallback: FallbackStrategy = "round_robin"
    default_capacity: int = 50


@dataclass(frozen=True)
class Considered:
    rep_id: str
    eligible: bool
    skipped: SkipReason | None
    detail: str
    open_leads: int
    assigned_today: int
    role: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rep_id": self.rep_id,
            "eligible": self.eligible,
            "skipped": self.skipped,
            "detail": self.detail,
            "open_leads": self.open_leads,
            "assigned_today": self.assigned_today,
        }
        if self.role:
            out["role"] = self.role
        return out


@dataclass(frozen=True)
class Pick:
    outcome: Outcome
    rep: RepView | None
    strategy: str
    """The strategy that chose (the owner fallback's name when it did)."""
    why: str
    considered: list[Considered]
    held_until: datetime | None = None
    cursor: str | None = None
    """The round-robin cursor after this pick (None: unchanged)."""
    currents: dict[str, int] = field(default_factory=dict)
    """Weighted round-robin counters after this pick."""


def _territory_covers(rep: RepView, lead: LeadProfile) -> bool:
    if not rep.territories:
        return True
    country = (lead.country or "").upper()
    region = (lead.region or "").strip().upper()
    for territory in rep.territories:
        t = territory.upper()
        if "-" in t:
            c, r = t.split("-", 1)
            if c == country and r == region:
                return True
        elif t == country:
            return True
    return False


def _speaks(rep: RepView, lead: LeadProfile) -> bool:
    language = primary_language(lead.language)
    if not rep.languages or language is None:
        return True
    return language in {primary_language(v) for v in rep.languages}


def check(
    rep: RepView,
    load: Load,
    *,
    pool: PoolPolicy,
    lead: LeadProfile,
    now: datetime,
    exclude: frozenset[str],
    role: str | None = None,
) -> Considered:
    """Whether `rep` may take the lead now, and if not the first reason why not."""

    def skip(reason: SkipReason, detail: str) -> Considered:
        return Considered(rep.id, False, reason, detail, load.open_leads, load.assigned_today, role)

    if rep.id in exclude:
        return skip("excluded", "already had this lead")
    if not rep.active:
        return skip("inactive", "not active")
    if rep.suspended:
        return skip("suspended", "suspended for SLA compliance until a manager reinstates")
    for start, end in rep.out_of_office:
        if start <= now < end:
            return skip("out_of_office", f"out of office until {end.isoformat()}")
    if pool.match_territory and not _territory_covers(rep, lead):
        where = "-".join(p for p in (lead.country, lead.region) if p) or "unknown"
        return skip("territory", f"territories {list(rep.territories)} do not cover {where}")
    if pool.match_language and not _speaks(rep, lead):
        return skip("language", f"languages {list(rep.languages)} lack {lead.language}")
    if rep.max_open_leads is not None and load.open_leads >= rep.max_open_leads:
        return skip("at_capacity", f"{load.open_leads} open leads of {rep.max_open_leads}")
    if rep.daily_cap is not None and load.assigned_today >= rep.daily_cap:
        return skip("daily_cap", f"{load.assigned_today} leads today of {rep.daily_cap}")
    detail = "eligible"
    if not rep.calendar.is_open(now):
        opens = rep.calendar.next_open(now)
        today = rep.calendar.local_date(now)
        holiday = today in rep.calendar.holidays
        reason: SkipReason = "holiday" if holiday else "outside_hours"
        closed = rep.calendar.holidays.describe(today) if holiday else "outside working hours"
        if pool.outside_hours != "assign":
            return skip(reason, f"{closed} until {opens.isoformat()}")
        detail = f"eligible; {closed}, the SLA clock starts {opens.isoformat()}"
    return Considered(rep.id, True, None, detail, load.open_leads, load.assigned_today, role)


def distribute(
    pool: PoolPolicy,
    members: Sequence[tuple[RepView, Load]],
    *,
    lead: LeadProfile,
    now: datetime,
    cursor: str | None = None,
    owner: tuple[RepView, Load] | None = None,
    owner_domain: str | None = None,
    exclude: frozenset[str] = frozenset(),
    may_hold: bool = True,
) -> Pick:
    """Pick a rep of the pool for the lead (or say it must be held or queued)."""
    members = sorted(members, key=lambda m: m[0].id)
    considered: list[Considered] = []
    eligible: list[tuple[RepView, Load]] = []
    owner_ok = False
    if pool.strategy == "account_owner_first" and owner is not None:
        verdict = check(
            owner[0], owner[1], pool=pool, lead=lead, now=now, exclude=exclude, role="account_owner"
        )
        considered.append(verdict)
        owner_ok = verdict.eligible
    for rep, load in members:
        if owner is not None and rep.id == owner[0].id and pool.strategy == "account_owner_first":
            if owner_ok:
                eligible.append((rep, load))
            continue
        verdict = check(rep, load, pool=pool, lead=lead, now=now, exclude=exclude)
        considered.append(verdict)
        if verdict.eligible:
            eligible.append((rep, load))

    if owner is not None and owner_ok:
        why = f"owns the account {owner_domain}"
        return Pick("assign", owner[0], "account_owner_first", why, considered)

    if not eligible:
        return _nobody(pool, members, considered, now=now, may_hold=may_hold)

    strategy: str = pool.strategy
    if strategy == "account_owner_first":
        strategy = pool.owner_fallback
        prefix = (
            f"the owner of {owner_domain} cannot take it; "
            if owner is not None
            else f"no owner for {owner_domain or 'this lead'}; "
        )
    else:
        prefix = ""
    if strategy == "round_robin":
        rep, why = _round_robin(eligible, cursor)
        return Pick("assign", rep, strategy, prefix + why, considered, cursor=rep.id)
    if strategy == "weighted_round_robin":
        rep, why, currents = _weighted(eligible)
        return Pick("assign", rep, strategy, prefix + why, considered, currents=currents)
    rep, why = _least_loaded(eligible, pool.default_capacity)
    return Pick("assign", rep, strategy, prefix + why, considered)


def keep_with_sourcing_rep(
    pick: Pick,
    rep: RepView | None,
    load: Load,
    *,
    rep_id: str,
    setting: SourcedLeads,
    pool_id: str,
    lead: LeadProfile,
    now: datetime,
    exclude: frozenset[str],
) -> Pick:
    """A lead a rep found (rep prospecting, a referral at the close) stays with that rep
    (`rep`, None when unknown) unless the pool says `sourced_leads: pool`; `pick` is the
    pool's own pick. Only what makes a rep unable to work any lead hands it to the pool:
    having had it already (a missed first touch, a rejection), inactive, suspended, out of
    office. Territory, language, capacity, the daily cap and working hours do not: the rep
    found the lead. The explanation says which it was."""
    if setting == "pool":
        return replace(pick, why=f"{pick.why} (sourced by {rep_id}; pool {pool_id} distributes it)")
    if rep is None:
        return replace(pick, why=f"{pick.why} (sourced by {rep_id}, who is not a rep here)")
    ungated = replace(rep, max_open_leads=None, daily_cap=None)
    verdict = check(
        ungated,
        load,
        pool=PoolPolicy(pool_id, "round_robin"),
        lead=lead,
        now=now,
        exclude=exclude,
        role="sourcing_rep",
    )
    if not verdict.eligible:
        why = f"{pick.why} (sourced by {rep_id}, who cannot take it: {verdict.skipped})"
        return replace(pick, why=why, considered=[verdict, *pick.considered])
    return Pick("assign", rep, "sourcing_rep", f"sourced by {rep_id}, who keeps it", [verdict])


def _nobody(
    pool: PoolPolicy,
    members: Sequence[tuple[RepView, Load]],
    considered: list[Considered],
    *,
    now: datetime,
    may_hold: bool,
) -> Pick:
    if not considered:
        return Pick("queue", None, pool.strategy, "the pool has no reps", considered)
    if pool.outside_hours == "hold" and may_hold:
        waiting = {c.rep_id for c in considered if c.skipped in WAITING}
        opens = [r.calendar.next_open(now) for r, _ in members if r.id in waiting]
        if opens:
            until = min(opens)
            off = {c.skipped for c in considered if c.rep_id in waiting}
            closed = "every rep is on a holiday" if off == {"holiday"} else None
            return Pick(
                "hold",
                None,
                pool.strategy,
                f"{closed or 'no rep is in working hours'}; held until {until.isoformat()}",
                considered,
                held_until=until,
            )
    reasons = sorted({c.skipped for c in considered if c.skipped})
    return Pick("queue", None, pool.strategy, f"no eligible rep ({', '.join(reasons)})", considered)


def _round_robin(eligible: list[tuple[RepView, Load]], cursor: str | None) -> tuple[RepView, str]:
    for rep, _ in eligible:
        if cursor is None or rep.id > cursor:
            return rep, (f"next in turn after {cursor}" if cursor else "first in turn")
    return eligible[0][0], f"next in turn after {cursor} (wrapped around)"


def _weighted(eligible: list[tuple[RepView, Load]]) -> tuple[RepView, str, dict[str, int]]:
    total = sum(rep.weight for rep, _ in eligible)
    currents = {rep.id: load.current + rep.weight for rep, load in eligible}
    best = max(eligible, key=lambda m: (currents[m[0].id], -_order(m[0].id, eligible)))[0]
    currents[best.id] -= total
    why = f"weighted turn: weight {best.weight} of {total} among eligible reps"
    return best, why, currents


def _order(rep_id: str, eligible: list[tuple[RepView, Load]]) -> int:
    return next(i for i, (r, _) in enumerate(eligible) if r.id == rep_id)


def _least_loaded(
    eligible: list[tuple[RepView, Load]], default_capacity: int
) -> tuple[RepView, str]:
    def key(m: tuple[RepView, Load]) -> tuple[float, int, datetime, str]:
        rep, load = m
        capacity = rep.max_open_leads or default_capacity
        return (
            load.open_leads / max(capacity, 1),
            load.open_leads,
            load.last_assigned_at or EPOCH,
            rep.id,
        )

    rep, load = min(eligible, key=key)
    capacity = rep.max_open_leads or default_capacity
    return rep, f"least loaded: {load.open_leads} open leads of capacity {capacity}"
