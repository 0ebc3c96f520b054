"""Deciding where a lead goes and why, writing nothing (the dry run and the backtests use it
as it is): the matching rule, the pool (configured, or the implicit default), its members
and the account owner, their load and the distribution's pick, a rep's own sourced lead,
and the explanation. `Routing` is one transaction's routing batch (router/state.py): the
configuration read once, the state its decisions keep current, the rows they write, the
routing locks it holds (`lock`, router/repository `lock_partitions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from contracts.events import LeadProfile
from router import repository
from router.calendar import Calendar
from router.config import RoutingConfig
from router.distribution import Load, Pick, PoolPolicy, RepView, distribute, keep_with_sourcing_rep
from router.domain import Domain
from router.explanation import Explanation, explain
from router.records import PoolRecord, RepRecord, SlaTerms
from router.repository import Conn
from router.rules import choose
from router.sla import Sla, deadlines, sla_of
from router.state import RoutingState, RoutingWrites
from services.db import Tx
from services.holidays import Holidays

NO_RULE = "default"


def lead_domain(profile: LeadProfile) -> str | None:
    """The company's domain: the one ingest found, else the email's."""
    domain = profile.company_domain or (
        profile.email.rsplit("@", 1)[1] if profile.email and "@" in profile.email else None
    )
    return domain.strip().lower().removeprefix("www.") if domain else None


def view_of(rep: RepRecord, holidays: Holidays | Sequence[date] = ()) -> RepView:
    return RepView(
        id=rep.id,
        name=rep.name,
        active=rep.active,
        suspended=rep.suspended,
        weight=rep.weight,
        max_open_leads=rep.max_open_leads,
        daily_cap=rep.daily_cap,
        territories=tuple(rep.territories),
        languages=tuple(rep.languages),
        out_of_office=tuple((o.start, o.end) for o in rep.out_of_office),
        calendar=Calendar.of(rep.time_zone, rep.working_hours, holidays),
    )


@dataclass(frozen=True)
class Decision:
    pick: Pick
    rule_id: str
    pool: PoolRecord
    sla: Sla
    first_touch_due_at: datetime | None
    cadence_due_at: datetime | None
    explanation: Explanation


@dataclass
class Routing:
    """One transaction's routing: the configuration its decisions use, the state they
    keep current and the rows they write (router/state.py)."""

    config: RoutingConfig
    state: RoutingState
    writes: RoutingWrites
    locked: set[str] = field(default_factory=set)
    """Routing locks this transaction holds already."""

    async def finish(self, tx: Tx) -> None:
        """Write what the decisions made (set-based), before the transaction commits: the
        inserts are deferred with the events and deliveries they said, and flushed together
        (on PostgreSQL one statement, services/pgwrite.py), so what runs next reads them."""
        await self.writes.write(tx)
        await self.state.write(tx)
        await tx.flush()


class Decisions(Domain):
    """Where a lead goes and why (Router's part; the routing and SLA parts build on it)."""

    def implicit_pool(self, pool_id: str) -> PoolRecord:
        """The default pool when it was never configured (or was deleted): every rep."""
        return PoolRecord(
            id=pool_id,
            name=pool_id,
            strategy="weighted_round_robin",
            members=[],
            teams=[],
            outside_hours="assign",
            match_territory=False,
            match_language=False,
            owner_fallback="round_robin",
            sla=SlaTerms(),
        )

    def pool(self, config: RoutingConfig, pool_id: str) -> PoolRecord:
        return config.pools.get(pool_id) or self.implicit_pool(pool_id)

    def calendar_of(self, config: RoutingConfig, rep: RepRecord) -> Calendar:
        view = config.views.get(rep.id)
        return (view or view_of(rep, config.holidays.get(rep.team_id or "", []))).calendar

    async def begin(self, conn: Conn) -> Routing:
        """Routing for one transaction: the current configuration (one version read) and
        fresh state. Whoever writes with it calls `Routing.finish` before committing."""
        return Routing(await self.routing.current(conn), RoutingState(), RoutingWrites())

    # --- deciding ----------------------------------------------------------------------------

    def matching_rule(
        self, config: RoutingConfig, profile: LeadProfile, score: int | None
    ) -> tuple[str, str, str, list[dict[str, Any]]]:
        """The first enabled rule the lead matches: (rule id, name, pool, rules checked)."""
        choice = choose(
            config.rules, profile, score, default_pool=self.settings.default_pool, no_rule=NO_RULE
        )
        return choice.rule_id, choice.rule_name, choice.pool, choice.checked

    def candidates(
        self, config: RoutingConfig, pool: PoolRecord, profile: LeadProfile
    ) -> tuple[list[RepRecord], RepRecord | None, str | None]:
        """The pool's members, the account owner (for account_owner_first) and the domain."""
        members = config.reps_where(pool.members, pool.teams)
        if pool.strategy != "account_owner_first":
            return members, None, None
        domain = lead_domain(profile)
        owner_id = config.account_owners.get(domain) if domain else None
        owner = config.reps.get(owner_id) if owner_id else None
        return members, owner, domain

    def partition_of(
        self, config: RoutingConfig, profile: LeadProfile, score: int | None
    ) -> tuple[str, set[str]]:
        """The pool a decision about this lead reads and writes, and the reps it weighs."""
        pool = self.pool(config, self.matching_rule(config, profile, score)[2])
        members, owner, _ = self.candidates(config, pool, profile)
        sourcer = {profile.sourced_by_rep_id} if profile.sourced_by_rep_id else set()
        return pool.id, {r.id for r in members} | ({owner.id} if owner else set()) | sourcer

    async def lock(
        self, tx: Tx, routing: Routing, leads: Sequence[tuple[LeadProfile, int | None]]
    ) -> None:
        """Take the routing locks of every pool and rep these leads' decisions touch, at
        once and in order (router/repository/routing.py `lock_partitions`)."""
        pools: set[str] = set()
        reps: set[str] = set()
        for profile, score in leads:
            pool, members = self.partition_of(routing.config, profile, score)
            pools.add(pool)
            reps |= members
        await self._take_locks(tx, routing, pools, reps)

    async def _take_locks(self, tx: Tx, routing: Routing, pools: set[str], reps: set[str]) -> None:
        """The locks of these pools and reps that the transaction does not hold yet."""
        new_pools = {p for p in pools if f"pool:{p}" not in routing.locked}
        new_reps = {r for r in reps if f"rep:{r}" not in routing.locked}
        if new_pools or new_reps:
            await repository.routing.lock_partitions(tx, new_pools, new_reps)
            routing.locked |= {f"pool:{p}" for p in new_pools} | {f"rep:{r}" for r in new_reps}

    async def decide(
        self,
        conn: Conn,
        routing: Routing,
        profile: LeadProfile,
        score: int | None,
        *,
        now: datetime,
        trigger: str,
        exclude: frozenset[str] = frozenset(),
        may_hold: bool = True,
    ) -> Decision:
        """Where the lead goes and why. Reads the state it needs through `routing` (once
        per transaction) and writes nothing, so the dry run uses it as it is."""
        config = routing.config
        rule_id, rule_name, pool_id, checked = self.matching_rule(config, profile, score)
        pool = self.pool(config, pool_id)
        members, owner, domain = self.candidates(config, pool, profile)
        everyone = {r.id: r for r in [*members, *([owner] if owner else [])]}
        if isinstance(conn, Tx):
            sourcer = {profile.sourced_by_rep_id} if profile.sourced_by_rep_id else set()
            await self._take_locks(conn, routing, {pool.id}, set(everyone) | sourcer)
        views = {
            r.id: config.views.get(r.id) or view_of(r, config.holidays.get(r.team_id or "", []))
            for r in everyone.values()
        }
        round_robin = "round_robin" in (pool.strategy, pool.owner_fallback)
        await routing.state.load(
            conn,
            pool.id,
            {i: views[i].calendar.local_midnight(now) for i in sorted(views)},
            cursor=round_robin,
        )
        loads = routing.state.loads(pool.id, views)
        policy = PoolPolicy(
            id=pool.id,
            strategy=pool.strategy,
            outside_hours=pool.outside_hours,
            match_territory=pool.match_territory,
            match_language=pool.match_language,
            owner_fallback=pool.owner_fallback,
            default_capacity=self.settings.default_capacity,
        )
        pick = distribute(
            policy,
            [(views[m.id], loads[m.id]) for m in members],
            lead=profile,
            now=now,
            cursor=routing.state.cursors.get(pool.id) if round_robin else None,
            owner=(views[owner.id], loads[owner.id]) if owner else None,
            owner_domain=domain,
            exclude=exclude,
            may_hold=may_hold,
        )
        pick = await self.sourced(conn, routing, pool, profile, pick, now, exclude)
        sla = sla_of(pool, self.settings)
        first_due = cadence_due = None
        if pick.rep is not None:
            first_due, cadence_due = deadlines(pick.rep.calendar, sla, now)
        explanation = explain(
            now=now,
            trigger=trigger,
            outcome=pick.outcome,
            rule={"id": rule_id, "name": rule_name},
            rules_checked=checked,
            pool=pool.id,
            strategy=pool.strategy,
            strategy_used=pick.strategy,
            considered=[c.as_json() for c in pick.considered],
            chosen=pick.rep.id if pick.rep else None,
            why=pick.why,
            first_touch_due_at=first_due,
            cadence_due_at=cadence_due,
            sla=sla,
            pool_choice={
                "outside_hours": pool.outside_hours,
                "excluded": sorted(exclude),
                "held_until": pick.held_until,
            },
            account=(
                {"domain": domain, "owner": owner.id if owner else None}
                if pool.strategy == "account_owner_first"
                else None
            ),
        )
        return Decision(pick, rule_id, pool, sla, first_due, cadence_due, explanation)

    async def sourced(
        self,
        conn: Conn,
        routing: Routing,
        pool: PoolRecord,
        profile: LeadProfile,
        pick: Pick,
        now: datetime,
        exclude: frozenset[str],
    ) -> Pick:
        """A lead a rep sourced stays with them unless the pool hands such leads to the pool
        (`keep_with_sourcing_rep`); `pick` is the pool's own pick."""
        rep_id = profile.sourced_by_rep_id
        if rep_id is None:
            return pick
        rep = routing.config.reps.get(rep_id) if pool.sourced_leads != "pool" else None
        view, load = None, Load()
        if rep is not None:
            view = routing.config.views.get(rep.id) or view_of(
                rep, routing.config.holidays.get(rep.team_id or "", [])
            )
            midnight = {rep_id: view.calendar.local_midnight(now)}
            await routing.state.load(conn, pool.id, midnight, cursor=False)
            load = routing.state.loads(pool.id, [rep_id])[rep_id]
        return keep_with_sourcing_rep(
            pick,
            view,
            load,
            rep_id=rep_id,
            setting=pool.sourced_leads,
            pool_id=pool.id,
            lead=profile,
            now=now,
            exclude=exclude,
        )
