"""The router's backtest: where the leads of a past window would have gone under candidate
rules and pools, side by side with the current ones (docs/routing.md, "Backtests").

The leads are the `lead.qualified` events audit archived in the window, replayed in time
order, each at its own time. Both sides decide with `Router.decide`, the live decision
itself, over a `SimulatedState`: fresh round-robin cursors and weighted counters, no open
leads at the window's start, and every lead a side assigned counted against that rep for
the rest of the window (open leads) and for the rep's local day (daily cap). Nothing is read
from or written to the live routing state: the simulation holds its own in memory.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from contracts.events import LeadQualified, parse_data
from router.config import RoutingConfig
from router.decisions import Decision, Routing
from router.distribution import Pick
from router.records import PoolRecord, PoolRepState, RuleRecord, parsed
from router.repository import Conn
from router.rules import enabled_in_order
from router.service import Router
from router.state import RoutingState, RoutingWrites
from services.backtests import (
    ArchivePage,
    BacktestCount,
    ReportProgress,
    side_by_side,
)
from services.db import UnitOfWork
from services.errors import DomainError, FieldError

QUALIFIED = LeadQualified.TYPE
MAX_LISTED = 1000
"""Leads listed in `changes` and `deadlines`, at most (the counts cover every lead)."""
CAPPED = frozenset({"at_capacity", "daily_cap"})


class InvalidCandidate(DomainError):
    """A candidate whose pools or rules name reps, teams or pools that do not exist (422,
    naming each field)."""

    status = 422


@dataclass(frozen=True)
class Placement:
    """Where one side put a lead, in short (with the full decision, for changed leads)."""

    outcome: str
    rule: str
    pool: str
    strategy: str
    rep_id: str | None
    why: str
    first_touch_due_at: datetime | None
    held_until: datetime | None = None
    explanation: dict[str, Any] | None = None


@dataclass(frozen=True)
class Change:
    """A lead the sides placed differently (`changed`: outcome, pool, rep)."""

    lead_id: str
    qualified_at: datetime
    changed: list[str]
    current: Placement
    candidate: Placement


@dataclass(frozen=True)
class Deadline:
    """A lead's first-touch deadline on both sides."""

    lead_id: str
    qualified_at: datetime
    current: datetime | None
    candidate: datetime | None


@dataclass(frozen=True)
class RepLoad:
    """A rep's load over the window on one side: leads assigned, the most on one of the
    rep's local days, and the times the rep was passed over at a cap."""

    assigned: int
    busiest_day: int
    capped: int


@dataclass(frozen=True)
class RepSides:
    rep_id: str
    name: str
    max_open_leads: int | None
    daily_cap: int | None
    current: RepLoad
    candidate: RepLoad


@dataclass(frozen=True)
class DeadlineStats:
    """The first-touch deadlines a side set, as minutes from qualification to deadline."""

    deadlines: int
    median_minutes: float | None
    max_minutes: float | None


@dataclass(frozen=True)
class DeadlineSides:
    current: DeadlineStats
    candidate: DeadlineStats


@dataclass(frozen=True)
class BacktestResult:
    """The comparison of the two sides over the window (`changes` and `deadlines` list the
    first MAX_LISTED leads; the counts cover every lead)."""

    leads: int
    changed: int
    outcomes: list[BacktestCount]
    rules: list[BacktestCount]
    pools: list[BacktestCount]
    reps: list[RepSides]
    first_touch: DeadlineSides
    changes: list[Change]
    deadlines: list[Deadline]


@dataclass
class SimulatedState(RoutingState):
    """Routing state that starts empty and lives in memory only: `load` reads nothing."""

    assigned_at: dict[str, list[datetime]] = field(default_factory=dict)

    async def load(
        self, conn: Conn, pool: str, midnights: dict[str, datetime], *, cursor: bool
    ) -> None:
        for rep, midnight in midnights.items():
            self.open_leads.setdefault(rep, 0)
            self.today[rep] = sum(1 for t in self.assigned_at.get(rep, ()) if t >= midnight)
        states = self.pools.setdefault(pool, {})
        for rep in midnights:
            states.setdefault(rep, PoolRepState(0, 0, None))
        if cursor:
            self.cursors.setdefault(pool, None)

    def assigned(self, pool: str, pick: Pick, at: datetime) -> None:
        super().assigned(pool, pick, at)
        assert pick.rep is not None
        self.assigned_at.setdefault(pick.rep.id, []).append(at)


@dataclass
class Side:
    routing: Routing
    state: SimulatedState
    placements: dict[str, Placement] = field(default_factory=dict)
    capped: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, config: RoutingConfig) -> Side:
        state = SimulatedState()
        return cls(Routing(config, state, RoutingWrites()), state)


def candidate_config(
    current: RoutingConfig,
    rules: Mapping[str, Mapping[str, Any]] | None,
    pools: Mapping[str, Mapping[str, Any]],
    default_pool: str,
    now: datetime,
) -> RoutingConfig:
    """The current configuration with the candidate's rules (None: the current ones) and
    pools (added or replaced), each by id with its fields as the live `PUT /rules/{id}` and
    `PUT /pools/{id}` take them, and validated as they validate them (422 naming each
    field)."""
    errors: list[FieldError] = []
    for pool_id, pool in pools.items():
        unknown = [m for m in pool["members"] if m not in current.reps]
        if unknown:
            errors.append(FieldError(f"pools.{pool_id}.members", f"unknown reps: {unknown}"))
        teams = set(current.holidays)
        for index, team in enumerate(pool["teams"]):
            if team not in teams:
                errors.append(FieldError(f"pools.{pool_id}.teams.{index}", "unknown team"))
    merged = dict(current.pools)
    merged.update(
        {
            pool_id: parsed(PoolRecord, {**pool, "id": pool_id, "name": pool["name"] or pool_id})
            for pool_id, pool in pools.items()
        }
    )
    ordered = current.rules
    if rules is not None:
        for rule_id, rule in rules.items():
            if rule["pool"] != default_pool and rule["pool"] not in merged:
                errors.append(FieldError(f"rules.{rule_id}.pool", f"unknown pool {rule['pool']!r}"))
        outs = [
            parsed(
                RuleRecord,
                {
                    **rule,
                    "id": rule_id,
                    "name": rule["name"] or rule_id,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            for rule_id, rule in rules.items()
        ]
        ordered = tuple(enabled_in_order(outs))
    if errors:
        raise InvalidCandidate(
            "The candidate does not validate: "
            + "; ".join(f"{e.field}: {e.message}" for e in errors)
            + ".",
            errors=errors,
        )
    return replace(current, rules=ordered, pools=merged)


def _placement(decision: Decision, *, explained: bool) -> Placement:
    pick = decision.pick
    return Placement(
        outcome=pick.outcome,
        rule=decision.rule_id,
        pool=decision.pool.id,
        strategy=pick.strategy,
        rep_id=pick.rep.id if pick.rep else None,
        why=pick.why,
        first_touch_due_at=decision.first_touch_due_at,
        held_until=pick.held_until,
        explanation=dict(decision.explanation) if explained else None,
    )


def _differences(a: Placement, b: Placement) -> list[str]:
    return [
        name
        for name, x, y in (
            ("outcome", a.outcome, b.outcome),
            ("pool", a.pool, b.pool),
            ("rep", a.rep_id, b.rep_id),
        )
        if x != y
    ]


class RouterBacktest:
    """Replays a window's qualified leads on both sides."""

    def __init__(self, router: Router, unit: UnitOfWork) -> None:
        self.router = router
        self.unit = unit

    async def configs(
        self,
        rules: Mapping[str, Mapping[str, Any]] | None,
        pools: Mapping[str, Mapping[str, Any]],
    ) -> tuple[RoutingConfig, RoutingConfig]:
        """The current configuration and the candidate's (see `candidate_config`)."""
        async with self.unit.read() as conn:
            current = await self.router.routing.current(conn)
        candidate = candidate_config(
            current, rules, pools, self.router.settings.default_pool, self.unit.clock.now()
        )
        return current, candidate

    async def run(
        self,
        current: RoutingConfig,
        candidate: RoutingConfig,
        pages: AsyncIterator[ArchivePage],
        progress: ReportProgress,
    ) -> BacktestResult:
        sides = (Side.of(current), Side.of(candidate))
        seen: dict[str, datetime] = {}
        changes: list[Change] = []
        deadlines: list[Deadline] = []
        changed = 0
        processed, total = 0, None
        async for page in pages:
            total = page.total if page.total is not None else total
            async with self.unit.read() as conn:
                for envelope in page.events:
                    processed += 1
                    data = parse_data(envelope)
                    if not isinstance(data, LeadQualified) or data.lead_id in seen:
                        continue
                    now = envelope.time
                    seen[data.lead_id] = now
                    decisions = [await self._decide(conn, side, data, now) for side in sides]
                    placed = [_placement(d, explained=False) for d in decisions]
                    for side, placement in zip(sides, placed, strict=True):
                        side.placements[data.lead_id] = placement
                    if len(deadlines) < MAX_LISTED:
                        deadlines.append(
                            Deadline(
                                lead_id=data.lead_id,
                                qualified_at=now,
                                current=placed[0].first_touch_due_at,
                                candidate=placed[1].first_touch_due_at,
                            )
                        )
                    differs = _differences(*placed)
                    if differs:
                        changed += 1
                        if len(changes) < MAX_LISTED:
                            a, b = (_placement(d, explained=True) for d in decisions)
                            changes.append(
                                Change(
                                    lead_id=data.lead_id,
                                    qualified_at=now,
                                    changed=differs,
                                    current=a,
                                    candidate=b,
                                )
                            )
            await progress(processed, total)
        return BacktestResult(
            leads=len(seen),
            changed=changed,
            outcomes=_counts(sides, "outcome"),
            rules=_counts(sides, "rule"),
            pools=_counts(sides, "pool"),
            reps=[_rep(current, rep_id, *sides) for rep_id in sorted(current.reps)],
            first_touch=DeadlineSides(
                current=_first_touch(sides[0], seen), candidate=_first_touch(sides[1], seen)
            ),
            changes=changes,
            deadlines=deadlines,
        )

    async def _decide(self, conn: Conn, side: Side, data: LeadQualified, now: datetime) -> Decision:
        decision = await self.router.decide(
            conn,
            side.routing,
            data.lead,
            data.decision.score,
            now=now,
            trigger="backtest",
        )
        pick = decision.pick
        for considered in pick.considered:
            if considered.skipped in CAPPED:
                side.capped[considered.rep_id] += 1
        if pick.outcome == "assign" and pick.rep is not None:
            side.state.assigned(decision.pool.id, pick, now)
        return decision


def _counts(sides: Sequence[Side], attribute: str) -> list[BacktestCount]:
    current, candidate = (
        Counter(str(getattr(p, attribute)) for p in side.placements.values()) for side in sides
    )
    return side_by_side(current, candidate)


def _load(side: Side, rep_id: str, config: RoutingConfig) -> RepLoad:
    times = side.state.assigned_at.get(rep_id, [])
    view = config.views.get(rep_id)
    days = Counter(view.calendar.local_date(t) if view else t.date() for t in times)
    return RepLoad(
        assigned=len(times),
        busiest_day=max(days.values(), default=0),
        capped=side.capped[rep_id],
    )


def _rep(config: RoutingConfig, rep_id: str, current: Side, candidate: Side) -> RepSides:
    rep = config.reps[rep_id]
    return RepSides(
        rep_id=rep_id,
        name=rep.name,
        max_open_leads=rep.max_open_leads,
        daily_cap=rep.daily_cap,
        current=_load(current, rep_id, config),
        candidate=_load(candidate, rep_id, config),
    )


def _first_touch(side: Side, qualified: dict[str, datetime]) -> DeadlineStats:
    minutes = [
        (p.first_touch_due_at - qualified[lead_id]).total_seconds() / 60
        for lead_id, p in side.placements.items()
        if p.first_touch_due_at is not None
    ]
    return DeadlineStats(
        deadlines=len(minutes),
        median_minutes=round(statistics.median(minutes), 1) if minutes else None,
        max_minutes=round(max(minutes), 1) if minutes else None,
    )
