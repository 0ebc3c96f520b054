"""The router's domain: where a sales-ready lead goes and why, the contact cadence it is
held to, and the reps' accountability for it.

- `decide` reads rules, the pool, its reps and their load and returns a `Decision` with its
  explanation; it writes nothing, so the dry run uses it as it is. `route` locks routing,
  decides and records: an assignment (with first-touch and cadence deadlines as durable
  timers), a hold until working hours, or the fallback queue (an alert).
- A rep's activities stop the first-touch clock, count toward the cadence (calls and emails
  at least the minimum spacing apart), and end it: connected (worked), or every required
  attempt made without a connection (returned to marketing).
- Deadlines are business time in the rep's calendar. A missed first touch is a breach and,
  when the pool says so, goes to the next eligible rep; a cadence window that closes
  without a connection is returned to marketing (a breach too when attempts were missing).
- Every resolved obligation re-judges the rep: below the compliance threshold over the
  rolling window they are suspended until a manager reinstates them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from contracts.events import (
    TOUCH_CHANNELS,
    ContactLogged,
    LeadAccepted,
    LeadAssigned,
    LeadProfile,
    LeadQualified,
    LeadQueued,
    LeadReassigned,
    LeadRejected,
    LeadReturned,
    OpportunityClosed,
    OpportunityOpened,
    RepReinstated,
    RepSuspended,
    RouterErasureCompleted,
    SlaBreached,
)
from router import metrics, repository
from router.calendar import Calendar
from router.config import RoutingConfig
from router.distribution import Load, Pick, PoolPolicy, RepView, distribute, keep_with_sourcing_rep
from router.repository import (
    OPEN_STATUSES,
    WORKING_STATUSES,
    AssignmentRecord,
    Changer,
    Conn,
    LeadRecord,
)
from router.rules import choose
from router.schemas import (
    ActivityIn,
    ActivityOut,
    AssignmentOut,
    Attempts,
    CadenceOut,
    CloseIn,
    ComplianceOut,
    OpportunityIn,
    OpportunityOut,
    PoolOut,
    RejectIn,
    RepOut,
    ShareOut,
    Sla,
    SlaIn,
)
from router.settings import RouterSettings
from router.state import RoutingState, RoutingWrites
from router.webhooks import Announcer
from services import erasure, timers
from services.consumer import Incoming
from services.db import Tx
from services.holidays import Holidays
from services.outbox import emit
from services.reference import Reference
from services.timers import Timer

log = logging.getLogger(__name__)

FIRST_TOUCH = "first_touch"
CADENCE_END = "cadence_end"
HELD = "route_held"
TIMER_KINDS = (FIRST_TOUCH, CADENCE_END, HELD)
CONNECTED_OUTCOMES = frozenset({"connected", "not_interested", "meeting_booked", "replied", "held"})
FALLBACK_QUEUE = "fallback"
HOLD_QUEUE = "hold"
NO_RULE = "default"


class Refused(Exception):
    """The action cannot be done in the lead's (or rep's) current state."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def lead_domain(profile: LeadProfile) -> str | None:
    """The company's domain: the one ingest found, else the email's."""
    domain = profile.company_domain or (
        profile.email.rsplit("@", 1)[1] if profile.email and "@" in profile.email else None
    )
    return domain.strip().lower().removeprefix("www.") if domain else None


def view_of(rep: RepOut, holidays: Holidays | Sequence[date] = ()) -> RepView:
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
    pool: PoolOut
    sla: Sla
    first_touch_due_at: datetime | None
    cadence_due_at: datetime | None
    explanation: dict[str, Any]


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
        """Write what the decisions made (set-based), before the transaction commits."""
        await self.writes.write(tx)
        await self.state.write(tx)


def _waiting(
    decision: Decision, status: str, queue: str, held_until: datetime | None
) -> dict[str, Any]:
    """A lead's columns when no rep has it: held until working hours, or in a queue."""
    return {
        "status": status,
        "rep_id": None,
        "assignment_id": None,
        "pool": decision.pool.id,
        "rule": decision.rule_id,
        "strategy": decision.pick.strategy,
        "queue": queue,
        "held_until": held_until,
        "explanation": decision.explanation,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


class Router:
    def __init__(
        self, settings: RouterSettings, announcer: Announcer, routing: Reference[RoutingConfig]
    ) -> None:
        self.settings = settings
        self.announcer = announcer
        self.say = announcer.say
        self.routing = routing

    async def erase(
        self, tx: Tx, lead_id: str, erasure_id: str, traceparent: str | None = None
    ) -> int:
        """Erase the person from the router's store, its timers and its own events, keep a
        tombstone (late events about the lead are then ignored) and confirm, in one
        transaction. The assignment stays (it holds no personal data), but its pending
        deadlines are cancelled: nobody is to call an erased person, so a missed first touch
        neither moves the lead to another rep nor counts against the rep."""
        profile = await repository.profile_json(tx, lead_id)
        values = erasure.personal_values(profile or {})
        values |= await erasure.outbox_values(tx, lead_id)
        changed = await repository.erase_lead(tx, lead_id, values)
        for kind in TIMER_KINDS:
            await timers.cancel(tx, kind, lead_id)
        changed += await erasure.redact_timers(tx, [lead_id], values)
        changed += await erasure.redact_outbox(tx, lead_id, values)
        await repository.put_tombstone(tx, lead_id, erasure_id)
        await emit(
            tx,
            RouterErasureCompleted(lead_id=lead_id, erasure_id=erasure_id, records=changed),
            traceparent=traceparent,
        )
        return changed

    # --- configuration resolved ----------------------------------------------------------

    def sla_of(self, pool: PoolOut) -> Sla:
        s, d = pool.sla, self.settings
        return Sla(
            first_touch_minutes=_or(s.first_touch_minutes, d.first_touch_minutes),
            calls=_or(s.calls, d.cadence_calls),
            emails=_or(s.emails, d.cadence_emails),
            business_days=_or(s.business_days, d.cadence_business_days),
            min_spacing_minutes=_or(s.min_spacing_minutes, d.cadence_min_spacing_minutes),
            reassign_on_missed_first_touch=_or(
                s.reassign_on_missed_first_touch, d.reassign_on_missed_first_touch
            ),
            max_reassignments=_or(s.max_reassignments, d.max_reassignments),
        )

    def implicit_pool(self, pool_id: str) -> PoolOut:
        """The default pool when it was never configured (or was deleted): every rep."""
        return PoolOut(
            id=pool_id,
            name=pool_id,
            strategy="weighted_round_robin",
            members=[],
            teams=[],
            outside_hours="assign",
            match_territory=False,
            match_language=False,
            owner_fallback="round_robin",
            sla=SlaIn(),
        )

    def pool(self, config: RoutingConfig, pool_id: str) -> PoolOut:
        return config.pools.get(pool_id) or self.implicit_pool(pool_id)

    def calendar_of(self, config: RoutingConfig, rep: RepOut) -> Calendar:
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
        self, config: RoutingConfig, pool: PoolOut, profile: LeadProfile
    ) -> tuple[list[RepOut], RepOut | None, str | None]:
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
        once and in order (router/repository.py `lock_partitions`)."""
        pools: set[str] = set()
        reps: set[str] = set()
        for profile, score in leads:
            pool, members = self.partition_of(routing.config, profile, score)
            pools.add(pool)
            reps |= members
        await self._take_locks(tx, routing, pools, reps)

    async def _take_locks(self, tx: Tx, routing: Routing, pools: set[str], reps: set[str]) -> None:
        """The locks of these pools and reps, unless the transaction holds them already."""
        wanted = {f"pool:{p}" for p in pools} | {f"rep:{r}" for r in reps}
        if wanted - routing.locked:
            await repository.lock_partitions(tx, pools, reps)
            routing.locked |= wanted

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
        sla = self.sla_of(pool)
        first_due = cadence_due = None
        if pick.rep is not None:
            first_due = pick.rep.calendar.add_minutes(now, sla.first_touch_minutes)
            cadence_due = pick.rep.calendar.close_of_business_day(now, sla.business_days)
        explanation: dict[str, Any] = {
            "decided_at": now.isoformat(),
            "trigger": trigger,
            "outcome": pick.outcome,
            "rule": {"id": rule_id, "name": rule_name},
            "rules_checked": checked,
            "pool": pool.id,
            "strategy": pool.strategy,
            "strategy_used": pick.strategy,
            "outside_hours": pool.outside_hours,
            "excluded": sorted(exclude),
            "considered": [c.as_json() for c in pick.considered],
            "chosen": pick.rep.id if pick.rep else None,
            "why": pick.why,
            "held_until": _iso(pick.held_until),
            "first_touch_due_at": _iso(first_due),
            "cadence_due_at": _iso(cadence_due),
            "sla": sla.model_dump(),
        }
        if pool.strategy == "account_owner_first":
            explanation["account"] = {"domain": domain, "owner": owner.id if owner else None}
        return Decision(pick, rule_id, pool, sla, first_due, cadence_due, explanation)

    async def sourced(
        self,
        conn: Conn,
        routing: Routing,
        pool: PoolOut,
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

    # --- recording decisions ---------------------------------------------------------------

    async def on_qualified(self, tx: Tx, events: Sequence[Incoming[LeadQualified]]) -> None:
        """Sales-ready leads, in order: route each, unless it is already with the router (a
        lead that was returned or lost and qualifies again is routed afresh). The batch's
        decisions share one read of each rep's and pool's state and write with one
        statement per table."""
        routing = await self.begin(tx)
        await self.lock(tx, routing, [(e.data.lead, e.data.decision.score) for e in events])
        known = await repository.leads_by_id(tx, [e.data.lead_id for e in events], for_update=True)
        now = tx.now()
        for event in events:
            data = event.data
            lead = known.get(data.lead_id)
            score = data.decision.score
            if lead is None:
                lead = repository.new_lead(data.lead_id, data.lead, score, now)
                routing.writes.new_lead(lead)
            elif lead.status in ("returned", "lost"):
                routing.writes.change_lead(lead.lead_id, now, profile=data.lead, score=score)
                lead = replace(lead, profile=data.lead, score=score)
            else:
                continue
            known[lead.lead_id] = await self.route(
                tx, routing, lead, trigger="lead.qualified", traceparent=event.traceparent
            )
        await routing.finish(tx)

    async def route(
        self,
        tx: Tx,
        routing: Routing,
        lead: LeadRecord,
        *,
        trigger: str,
        traceparent: str | None = None,
        exclude: frozenset[str] = frozenset(),
    ) -> LeadRecord:
        """Decide and record; returns the lead as it now is."""
        started = time.perf_counter()
        decision = await self.decide(
            tx, routing, lead.profile, lead.score, now=tx.now(), trigger=trigger, exclude=exclude
        )
        if decision.pick.outcome == "assign":
            lead = await self.assign(tx, routing, lead, decision, traceparent=traceparent)
        else:
            lead = await self._wait(tx, routing, lead, decision, traceparent)
        metrics.DECISION_SECONDS.observe(time.perf_counter() - started)
        return lead

    async def assign(
        self,
        tx: Tx,
        routing: Routing,
        lead: LeadRecord,
        decision: Decision,
        *,
        traceparent: str | None,
        from_rep: str | None = None,
        reason: str | None = None,
        kind: str = "assigned",
    ) -> LeadRecord:
        """Record an assignment decision: the assignment, its deadlines, the event."""
        pick, sla, pool = decision.pick, decision.sla, decision.pool
        rep = pick.rep
        assert rep is not None
        assert decision.first_touch_due_at is not None
        assert decision.cadence_due_at is not None
        now = tx.now()
        assignment_id = str(uuid.uuid4())
        routing.writes.assignments.append(
            {
                "id": assignment_id,
                "lead_id": lead.lead_id,
                "rep_id": rep.id,
                "kind": kind,
                "pool": pool.id,
                "rule": decision.rule_id,
                "strategy": pick.strategy,
                "explanation": decision.explanation,
                "assigned_at": now,
                "accepted_at": None,
                "ended_at": None,
                "end_reason": None,
                "first_touch_due_at": decision.first_touch_due_at,
                "touched_at": None,
                "first_touch": "pending",
                "first_touch_resolved_at": None,
                "cadence_due_at": decision.cadence_due_at,
                "cadence": "running",
                "cadence_resolved_at": None,
                "calls_required": sla.calls,
                "emails_required": sla.emails,
                "min_spacing_minutes": sla.min_spacing_minutes,
                "calls_made": 0,
                "emails_made": 0,
                "calls_counted": 0,
                "emails_counted": 0,
                "last_call_at": None,
                "last_email_at": None,
                "connected_at": None,
            }
        )
        changes: dict[str, Any] = {
            "status": "assigned",
            "rep_id": rep.id,
            "assignment_id": assignment_id,
            "pool": pool.id,
            "rule": decision.rule_id,
            "strategy": pick.strategy,
            "queue": None,
            "held_until": None,
            "explanation": decision.explanation,
            "reassignments": lead.reassignments + (1 if from_rep else 0),
            "return_reason": None,
        }
        routing.writes.change_lead(lead.lead_id, now, **changes)
        routing.state.assigned(pool.id, pick, now)
        if lead.status == "held":
            routing.writes.cancel(HELD, lead.lead_id)
        payload = {"assignment_id": assignment_id, "rep_id": rep.id}
        routing.writes.schedule(FIRST_TOUCH, lead.lead_id, decision.first_touch_due_at, payload)
        routing.writes.schedule(CADENCE_END, lead.lead_id, decision.cadence_due_at, payload)
        if from_rep is None:
            await self.say(
                tx,
                LeadAssigned(
                    lead_id=lead.lead_id,
                    assignment_id=assignment_id,
                    rep_id=rep.id,
                    rep_name=rep.name,
                    pool=pool.id,
                    rule=decision.rule_id,
                    strategy=pick.strategy,
                    first_touch_due_at=decision.first_touch_due_at,
                    cadence_due_at=decision.cadence_due_at,
                    why=pick.why,
                    score=lead.score,
                    lead=lead.profile,
                ),
                traceparent=traceparent,
                config=routing.config,
            )
        else:
            await self.say(
                tx,
                LeadReassigned(
                    lead_id=lead.lead_id,
                    assignment_id=assignment_id,
                    from_rep_id=from_rep,
                    rep_id=rep.id,
                    rep_name=rep.name,
                    reason=reason or "reassigned",
                    first_touch_due_at=decision.first_touch_due_at,
                    pool=pool.id,
                    rule=decision.rule_id,
                    strategy=pick.strategy,
                    cadence_due_at=decision.cadence_due_at,
                    why=pick.why,
                    lead=lead.profile,
                ),
                traceparent=traceparent,
                config=routing.config,
            )
        metrics.DECISIONS.labels("assign", pool.id, pick.strategy).inc()
        return replace(lead, **changes, updated_at=now)

    async def _wait(
        self,
        tx: Tx,
        routing: Routing,
        lead: LeadRecord,
        decision: Decision,
        traceparent: str | None,
    ) -> LeadRecord:
        """Record that no rep takes the lead now: held until a rep's working hours (a timer
        routes it again then), or in the fallback queue (an alert)."""
        until = decision.pick.held_until
        queue = HOLD_QUEUE if until is not None else FALLBACK_QUEUE
        changes = _waiting(decision, "held" if until else "queued", queue, until)
        now = tx.now()
        routing.writes.change_lead(lead.lead_id, now, **changes)
        if until is not None:
            routing.writes.schedule(HELD, lead.lead_id, until)
        else:
            routing.writes.cancel(HELD, lead.lead_id)
        await self.say(
            tx,
            LeadQueued(
                lead_id=lead.lead_id,
                queue=queue,
                reason=decision.pick.why,
                pool=decision.pool.id,
                rule=decision.rule_id,
                held_until=until,
            ),
            traceparent=traceparent,
            config=routing.config,
        )
        outcome = "hold" if until is not None else "queue"
        metrics.DECISIONS.labels(outcome, decision.pool.id, decision.pick.strategy).inc()
        if until is None:
            metrics.FALLBACK.labels(decision.pool.id).inc()
            # The alert: a sales-ready lead nobody can take. Alerting picks up ERROR lines
            # and leadfarm_router_fallback_total; GET /router/v1/queue lists what waits.
            log.error(
                "lead %s went to the fallback queue (pool %s): %s",
                lead.lead_id,
                decision.pool.id,
                decision.pick.why,
            )
        return replace(lead, **changes, updated_at=now)

    async def _end(self, tx: Tx, assignment_id: str, reason: str) -> AssignmentRecord:
        """End an assignment; obligations still open are void (not the rep's to answer)."""
        a = await repository.get_assignment(tx, assignment_id)
        assert a is not None
        if a.ended_at is None:
            values: dict[str, Any] = {"ended_at": tx.now(), "end_reason": reason}
            if a.first_touch == "pending":
                values["first_touch"] = "void"
            if a.cadence == "running":
                values["cadence"] = "void"
            await repository.update_assignment(tx, a.id, **values)
        for kind in (FIRST_TOUCH, CADENCE_END):
            await timers.cancel(tx, kind, a.lead_id)
        return a

    async def return_to_marketing(
        self,
        tx: Tx,
        lead: LeadRecord,
        *,
        reason: str,
        code: str,
        traceparent: str | None = None,
    ) -> None:
        rep_id = lead.rep_id
        if lead.assignment_id is not None:
            await self._end(tx, lead.assignment_id, code)
        await repository.update_lead(
            tx, lead.lead_id, status="returned", return_reason=reason, queue=None, held_until=None
        )
        await timers.cancel(tx, HELD, lead.lead_id)
        await self.say(
            tx,
            LeadReturned(
                lead_id=lead.lead_id,
                rep_id=rep_id,
                reason=reason,
                lead=lead.profile,
                reason_code=code,
                assignment_id=lead.assignment_id,
            ),
            traceparent=traceparent,
        )

    # --- timers -----------------------------------------------------------------------------

    async def _current(self, tx: Tx, timer: Timer) -> tuple[LeadRecord, AssignmentRecord] | None:
        """The lead and the assignment a timer was set for, if both are still current."""
        lead = await repository.get_lead(tx, timer.key, for_update=True)
        if lead is None or lead.assignment_id is None:
            return None
        wanted = timer.payload.get("assignment_id") or lead.assignment_id
        if wanted != lead.assignment_id:
            return None
        a = await repository.get_assignment(tx, wanted, for_update=True)
        if a is None or a.ended_at is not None:
            return None
        return lead, a

    async def on_first_touch_due(self, tx: Tx, timer: Timer) -> None:
        """No touch by the deadline: a breach; the next eligible rep gets it (per pool)."""
        current = await self._current(tx, timer)
        if current is None:
            return
        lead, a = current
        if a.first_touch != "pending" or a.touched_at is not None:
            return
        now = tx.now()
        rep = await repository.get_rep(tx, a.rep_id)
        away = rep is not None and any(
            o.start <= a.first_touch_due_at < o.end for o in rep.out_of_office
        )
        # A rep who was out of office at the deadline is not held to it; the lead still moves.
        await repository.update_assignment(
            tx,
            a.id,
            first_touch="void" if away else "breached",
            first_touch_resolved_at=a.first_touch_due_at,
        )
        metrics.SLA.labels("first_touch", "breached").inc()
        routing = await self.begin(tx)
        pool = self.pool(routing.config, a.pool)
        sla = self.sla_of(pool)
        decision: Decision | None = None
        if lead.status == "opportunity":
            action = f"kept by {a.rep_id}: an opportunity is open"
        elif not sla.reassign_on_missed_first_touch:
            action = f"kept by {a.rep_id}: pool {pool.id} does not reassign missed first touches"
        elif lead.reassignments >= sla.max_reassignments:
            action = f"kept by {a.rep_id}: reassigned {lead.reassignments} times already"
        else:
            exclude = frozenset(await repository.reps_who_had(tx, lead.lead_id))
            decision = await self.decide(
                tx,
                routing,
                lead.profile,
                lead.score,
                now=now,
                trigger=f"first touch missed by {a.rep_id}",
                exclude=exclude,
                may_hold=False,
            )
            if decision.pick.rep is None:
                action = f"kept by {a.rep_id}: no other eligible rep ({decision.pick.why})"
                decision = None
            else:
                action = f"reassigned to {decision.pick.rep.id}"
        if away:
            action += f"; {a.rep_id} was out of office, so it does not count against them"
        await self.say(
            tx,
            SlaBreached(
                lead_id=lead.lead_id,
                rep_id=a.rep_id,
                sla="first_touch",
                due_at=a.first_touch_due_at,
                assignment_id=a.id,
                action=action,
            ),
        )
        log.warning("first touch of lead %s missed by rep %s: %s", lead.lead_id, a.rep_id, action)
        if decision is not None:
            await self._end(tx, a.id, "first_touch_missed")
            await self.assign(
                tx,
                routing,
                lead,
                decision,
                traceparent=None,
                from_rep=a.rep_id,
                reason=f"first touch missed by {a.rep_id}",
                kind="reassigned",
            )
            await routing.finish(tx)
        await self.judge(tx, a.rep_id)

    async def on_cadence_due(self, tx: Tx, timer: Timer) -> None:
        """The cadence's window closed without a connection: back to marketing."""
        current = await self._current(tx, timer)
        if current is None:
            return
        lead, a = current
        if a.cadence != "running" or lead.status not in OPEN_STATUSES:
            return
        missing = a.calls_counted < a.calls_required or a.emails_counted < a.emails_required
        tally = (
            f"{a.calls_counted} of {a.calls_required} calls and "
            f"{a.emails_counted} of {a.emails_required} emails"
        )
        await repository.update_assignment(
            tx,
            a.id,
            cadence="breached" if missing else "exhausted",
            cadence_resolved_at=a.cadence_due_at,
        )
        metrics.SLA.labels("cadence", "breached" if missing else "exhausted").inc()
        if missing:
            await self.say(
                tx,
                SlaBreached(
                    lead_id=lead.lead_id,
                    rep_id=a.rep_id,
                    sla="cadence",
                    due_at=a.cadence_due_at,
                    assignment_id=a.id,
                    action=f"returned to marketing; {tally}",
                ),
            )
        await self.return_to_marketing(
            tx,
            lead,
            reason=f"the cadence's window closed without a connection ({tally})",
            code="cadence_expired",
        )
        await self.judge(tx, a.rep_id)

    async def on_held_due(self, tx: Tx, timer: Timer) -> None:
        """A held lead's reps are starting their day: route it again."""
        lead = await repository.get_lead(tx, timer.key, for_update=True)
        if lead is None or lead.status != "held":
            return
        routing = await self.begin(tx)
        await self.route(tx, routing, lead, trigger="held lead released at working hours")
        await routing.finish(tx)

    # --- rep actions ------------------------------------------------------------------------

    async def log_activity(
        self, tx: Tx, lead: LeadRecord, body: ActivityIn, traceparent: str | None
    ) -> ActivityOut:
        if lead.status not in WORKING_STATUSES or lead.assignment_id is None:
            raise Refused(409, f"Lead {lead.lead_id!r} is {lead.status}; it takes no activities.")
        a = await repository.get_assignment(tx, lead.assignment_id, for_update=True)
        assert a is not None
        rep = await repository.get_rep(tx, a.rep_id)
        assert rep is not None
        calendar = self.calendar_of(await self.routing.current(tx), rep)
        now = tx.now()
        connected = body.outcome in CONNECTED_OUTCOMES
        changes: dict[str, Any] = {}
        resolved = False
        if body.channel in TOUCH_CHANNELS and a.touched_at is None:
            changes["touched_at"] = now
            if a.first_touch == "pending":
                changes |= {"first_touch": "met", "first_touch_resolved_at": now}
                await timers.cancel(tx, FIRST_TOUCH, lead.lead_id)
                metrics.SLA.labels("first_touch", "met").inc()
                resolved = True
        counted: bool | None = None
        calls, emails = a.calls_counted, a.emails_counted
        if body.channel == "call":
            counted = a.last_call_at is None or (
                calendar.minutes_between(a.last_call_at, now) >= a.min_spacing_minutes
            )
            changes["calls_made"] = a.calls_made + 1
            if counted:
                calls += 1
                changes |= {"calls_counted": calls, "last_call_at": now}
        elif body.channel == "email":
            counted = a.last_email_at is None or (
                calendar.minutes_between(a.last_email_at, now) >= a.min_spacing_minutes
            )
            changes["emails_made"] = a.emails_made + 1
            if counted:
                emails += 1
                changes |= {"emails_counted": emails, "last_email_at": now}
        if connected and a.connected_at is None:
            changes["connected_at"] = now
        exhausted = False
        if a.cadence == "running" and lead.status in OPEN_STATUSES:
            required = a.calls_required + a.emails_required
            if connected:
                changes |= {"cadence": "connected", "cadence_resolved_at": now}
                await timers.cancel(tx, CADENCE_END, lead.lead_id)
                metrics.SLA.labels("cadence", "connected").inc()
                resolved = True
            elif required and calls >= a.calls_required and emails >= a.emails_required:
                changes |= {"cadence": "exhausted", "cadence_resolved_at": now}
                metrics.SLA.labels("cadence", "exhausted").inc()
                exhausted = resolved = True
        if changes:
            await repository.update_assignment(tx, a.id, **changes)
        activity = ActivityOut(
            id=str(uuid.uuid4()),
            lead_id=lead.lead_id,
            rep_id=a.rep_id,
            channel=body.channel,
            outcome=body.outcome,
            at=now,
            assignment_id=a.id,
            counted=counted,
            connected=connected,
            note=body.note,
        )
        await repository.insert_activity(tx, activity)
        await self.say(
            tx,
            ContactLogged(
                lead_id=lead.lead_id,
                activity_id=activity.id,
                rep_id=a.rep_id,
                channel=body.channel,
                outcome=body.outcome,
                at=now,
                assignment_id=a.id,
                connected=connected,
                counted=counted,
            ),
            traceparent=traceparent,
        )
        if exhausted:
            await self.return_to_marketing(
                tx,
                lead,
                reason=(
                    f"cadence exhausted: {calls} calls and {emails} emails without a "
                    "connection; back to nurture"
                ),
                code="cadence_exhausted",
                traceparent=traceparent,
            )
        if resolved:
            await self.judge(tx, a.rep_id)
        return activity

    async def accept(self, tx: Tx, lead: LeadRecord, traceparent: str | None) -> None:
        if lead.status == "accepted":
            return
        if lead.status != "assigned" or lead.assignment_id is None:
            raise Refused(409, f"Lead {lead.lead_id!r} is {lead.status}; it cannot be accepted.")
        now = tx.now()
        await repository.update_assignment(tx, lead.assignment_id, accepted_at=now)
        await repository.update_lead(tx, lead.lead_id, status="accepted")
        assert lead.rep_id is not None
        await self.say(
            tx,
            LeadAccepted(
                lead_id=lead.lead_id, assignment_id=lead.assignment_id, rep_id=lead.rep_id, at=now
            ),
            traceparent=traceparent,
        )

    async def reject(
        self, tx: Tx, lead: LeadRecord, body: RejectIn, traceparent: str | None
    ) -> str:
        """Reassign the lead to the next eligible rep, or return it to marketing."""
        if lead.status not in OPEN_STATUSES or lead.assignment_id is None:
            raise Refused(409, f"Lead {lead.lead_id!r} is {lead.status}; it cannot be rejected.")
        a = await self._end(tx, lead.assignment_id, "rejected")
        because = f"rejected by {a.rep_id}: {body.reason}"
        decision: Decision | None = None
        routing = await self.begin(tx)
        if body.disposition == "reassign":
            decision = await self.decide(
                tx,
                routing,
                lead.profile,
                lead.score,
                now=tx.now(),
                trigger=because,
                exclude=frozenset(await repository.reps_who_had(tx, lead.lead_id)),
                may_hold=False,
            )
            if decision.pick.rep is None:
                decision = None
        outcome = "reassigned" if decision else "returned"
        await self.say(
            tx,
            LeadRejected(
                lead_id=lead.lead_id,
                assignment_id=a.id,
                rep_id=a.rep_id,
                reason=body.reason,
                outcome="reassigned" if decision else "returned",
                at=tx.now(),
            ),
            traceparent=traceparent,
        )
        if decision is not None:
            await self.assign(
                tx,
                routing,
                lead,
                decision,
                traceparent=traceparent,
                from_rep=a.rep_id,
                reason=because,
                kind="reassigned",
            )
            await routing.finish(tx)
        else:
            suffix = "; no other eligible rep" if body.disposition == "reassign" else ""
            await self.return_to_marketing(
                tx, lead, reason=because + suffix, code="rejected", traceparent=traceparent
            )
        return outcome

    async def assign_manually(
        self,
        tx: Tx,
        lead: LeadRecord,
        rep_id: str | None,
        reason: str | None,
        *,
        by: str,
        traceparent: str | None,
    ) -> None:
        """A manager routes a lead again (a queued or held one), or gives it to a rep."""
        if lead.status in ("opportunity", "won"):
            raise Refused(409, f"Lead {lead.lead_id!r} is {lead.status}; it cannot be assigned.")
        had = lead.rep_id if lead.status in OPEN_STATUSES else None
        now = tx.now()
        routing = await self.begin(tx)
        if rep_id is None:
            exclude = frozenset({had}) if had else frozenset()
            decision = await self.decide(
                tx,
                routing,
                lead.profile,
                lead.score,
                now=now,
                trigger=f"routed again by a manager ({by})",
                exclude=exclude,
            )
            if decision.pick.rep is None:
                raise Refused(
                    409, f"No rep can take lead {lead.lead_id!r} now: {decision.pick.why}."
                )
        else:
            rep = routing.config.reps.get(rep_id)
            if rep is None:
                raise Refused(422, f"There is no rep {rep_id!r}.")
            if not rep.active:
                raise Refused(409, f"Rep {rep_id!r} is not active.")
            decision = await self._manual_decision(
                tx, routing, lead, rep, now, by=by, reason=reason
            )
        if had and lead.assignment_id:
            await self._end(tx, lead.assignment_id, "reassigned_by_manager")
        await self.assign(
            tx,
            routing,
            lead,
            decision,
            traceparent=traceparent,
            from_rep=had,
            reason=reason or f"reassigned by a manager ({by})",
            kind="manual" if rep_id else ("reassigned" if had else "assigned"),
        )
        await routing.finish(tx)

    async def _manual_decision(
        self,
        tx: Tx,
        routing: Routing,
        lead: LeadRecord,
        rep: RepOut,
        now: datetime,
        *,
        by: str,
        reason: str | None,
    ) -> Decision:
        pool = self.pool(routing.config, lead.pool or self.settings.default_pool)
        sla = self.sla_of(pool)
        calendar = self.calendar_of(routing.config, rep)
        view = view_of(rep)
        why = f"assigned by a manager ({by})" + (f": {reason}" if reason else "")
        first_due = calendar.add_minutes(now, sla.first_touch_minutes)
        cadence_due = calendar.close_of_business_day(now, sla.business_days)
        pick = Pick("assign", view, "manual", why, [])
        explanation = {
            "decided_at": now.isoformat(),
            "trigger": "manager",
            "outcome": "assign",
            "rule": {"id": "manual", "name": "a manager's choice"},
            "rules_checked": [],
            "pool": pool.id,
            "strategy": "manual",
            "strategy_used": "manual",
            "considered": [],
            "chosen": rep.id,
            "why": why,
            "first_touch_due_at": first_due.isoformat(),
            "cadence_due_at": cadence_due.isoformat(),
            "sla": sla.model_dump(),
        }
        await repository.lock_partitions(tx, [pool.id], [rep.id])
        await routing.state.load(tx, pool.id, {rep.id: calendar.local_midnight(now)}, cursor=False)
        return Decision(pick, "manual", pool, sla, first_due, cadence_due, explanation)

    # --- opportunities ---------------------------------------------------------------------

    async def open_opportunity(
        self, tx: Tx, lead: LeadRecord, body: OpportunityIn, traceparent: str | None
    ) -> OpportunityOut:
        if lead.status not in OPEN_STATUSES or lead.assignment_id is None:
            raise Refused(
                409, f"Lead {lead.lead_id!r} is {lead.status}; an opportunity needs an open lead."
            )
        a = await repository.get_assignment(tx, lead.assignment_id, for_update=True)
        assert a is not None
        now = tx.now()
        changes: dict[str, Any] = {}
        resolved = False
        if a.touched_at is None:
            changes["touched_at"] = now
            if a.first_touch == "pending":
                changes |= {"first_touch": "met", "first_touch_resolved_at": now}
                resolved = True
        if a.connected_at is None:
            changes["connected_at"] = now
        if a.cadence == "running":
            changes |= {"cadence": "connected", "cadence_resolved_at": now}
            resolved = True
        if changes:
            await repository.update_assignment(tx, a.id, **changes)
        for kind in (FIRST_TOUCH, CADENCE_END):
            await timers.cancel(tx, kind, lead.lead_id)
        opportunity = OpportunityOut(
            id=str(uuid.uuid4()),
            lead_id=lead.lead_id,
            rep_id=a.rep_id,
            name=body.name,
            amount=body.amount,
            currency=body.currency,
            status="open",
            reason=None,
            opened_at=now,
            closed_at=None,
        )
        await repository.insert_opportunity(tx, opportunity)
        await repository.update_lead(tx, lead.lead_id, status="opportunity")
        await self.say(
            tx,
            OpportunityOpened(
                lead_id=lead.lead_id,
                opportunity_id=opportunity.id,
                rep_id=a.rep_id,
                amount=body.amount,
                currency=body.currency,
                name=body.name,
                lead=lead.profile,
                assignment_id=a.id,
            ),
            traceparent=traceparent,
        )
        if resolved:
            await self.judge(tx, a.rep_id)
        return opportunity

    async def close_opportunity(
        self,
        tx: Tx,
        opportunity: OpportunityOut,
        body: CloseIn,
        traceparent: str | None,
    ) -> OpportunityOut:
        lead = await repository.get_lead(tx, opportunity.lead_id, for_update=True)
        assert lead is not None
        # Read again under the lead's lock: two closes at once close it once.
        current = await repository.get_opportunity(tx, opportunity.id)
        if current is None or current.status != "open":
            raise Refused(409, f"Opportunity {opportunity.id!r} is closed already.")
        amount: Decimal = body.amount if body.amount is not None else opportunity.amount
        await repository.close_opportunity(
            tx, opportunity.id, won=body.won, amount=amount, reason=body.reason
        )
        status = "won" if body.won else "lost"
        await repository.update_lead(tx, lead.lead_id, status=status)
        if lead.assignment_id is not None:
            await self._end(tx, lead.assignment_id, status)
        await self.say(
            tx,
            OpportunityClosed(
                lead_id=lead.lead_id,
                opportunity_id=opportunity.id,
                rep_id=opportunity.rep_id,
                won=body.won,
                amount=amount,
                currency=opportunity.currency,
                lead=lead.profile,
                reason=body.reason,
            ),
            traceparent=traceparent,
        )
        closed = await repository.get_opportunity(tx, opportunity.id)
        assert closed is not None
        return closed

    # --- accountability --------------------------------------------------------------------

    def window(self, rep: RepOut, now: datetime) -> datetime:
        """Where the obligations the rep is judged on start: the rolling window, or the
        reinstatement when it is later (what came before it was judged already)."""
        since = now - timedelta(days=self.settings.compliance_window_days)
        if rep.reinstated_at is not None and rep.reinstated_at > since:
            return rep.reinstated_at
        return since

    async def compliance(self, conn: Conn, rep: RepOut, now: datetime) -> ComplianceOut:
        """The rep's compliance as the next judgement will see it (`window`)."""
        since = self.window(rep, now)
        counts = await repository.compliance_counts(conn, rep.id, since, now)
        obligations = counts.first_touch_due + counts.cadences_ended
        met = counts.first_touch_met + counts.cadences_completed
        return ComplianceOut(
            rep_id=rep.id,
            window_days=self.settings.compliance_window_days,
            since=since,
            until=now,
            first_touch=ShareOut(
                due=counts.first_touch_due,
                met=counts.first_touch_met,
                share=_share(counts.first_touch_met, counts.first_touch_due),
            ),
            cadence=ShareOut(
                due=counts.cadences_ended,
                met=counts.cadences_completed,
                share=_share(counts.cadences_completed, counts.cadences_ended),
            ),
            obligations=obligations,
            compliance=_share(met, obligations),
            threshold=self.settings.compliance_threshold,
            min_obligations=self.settings.compliance_min_obligations,
            suspended=rep.suspended,
            suspended_at=rep.suspended_at,
            suspended_reason=rep.suspended_reason,
            reinstated_at=rep.reinstated_at,
        )

    async def judge(self, tx: Tx, rep_id: str) -> None:
        """Suspend the rep when their compliance fell below the threshold. Obligations
        before a reinstatement do not count again."""
        rep = await repository.get_rep(tx, rep_id)
        if rep is None or rep.suspended:
            return
        now = tx.now()
        since = self.window(rep, now)
        counts = await repository.compliance_counts(tx, rep_id, since, now)
        obligations = counts.first_touch_due + counts.cadences_ended
        if obligations < self.settings.compliance_min_obligations:
            return
        met = counts.first_touch_met + counts.cadences_completed
        share = met / obligations
        threshold = self.settings.compliance_threshold
        if share >= threshold:
            return
        reason = (
            f"{met} of {obligations} SLA obligations met since {since:%Y-%m-%d %H:%M} UTC "
            f"({share:.0%}), below the threshold of {threshold:.0%}"
        )
        # The last change is the router's own: no API key made it.
        changes = {"suspended_at": now, "suspended_reason": reason, "updated_at": now}
        await repository.update_rep(
            tx, rep_id, {**changes, "changed_by": None, "changed_by_name": None}
        )
        await self.say(
            tx,
            RepSuspended(lead_id="", rep_id=rep_id, reason=reason, compliance=round(share, 4)),
            subject=f"rep:{rep_id}",
        )
        metrics.SUSPENSIONS.inc()
        log.warning("rep %s suspended from distribution: %s", rep_id, reason)

    async def suspend(self, tx: Tx, rep: RepOut, reason: str, by: Changer) -> None:
        """A manager takes the rep out of the distribution, with a reason (`rep.suspended`,
        as the compliance job says it, with the key that did it)."""
        if rep.suspended:
            raise Refused(409, f"Rep {rep.id!r} is suspended already: {rep.suspended_reason or ''}")
        now = tx.now()
        status = await self.compliance(tx, rep, now)
        met = status.first_touch.met + status.cadence.met
        await repository.update_rep(
            tx,
            rep.id,
            {
                "suspended_at": now,
                "suspended_reason": reason,
                "suspended_by": by.key_id,
                "suspended_by_name": by.name,
                "updated_at": now,
                "changed_by": by.key_id,
                "changed_by_name": by.name,
            },
        )
        await self.say(
            tx,
            RepSuspended(
                lead_id="",
                rep_id=rep.id,
                reason=reason,
                compliance=round(met / status.obligations, 4) if status.obligations else 1.0,
                by=by.key_id,
            ),
            subject=f"rep:{rep.id}",
        )

    async def reinstate(self, tx: Tx, rep: RepOut, reason: str | None, by: Changer) -> None:
        if not rep.suspended:
            raise Refused(409, f"Rep {rep.id!r} is not suspended.")
        now = tx.now()
        await repository.update_rep(
            tx,
            rep.id,
            {
                "suspended_at": None,
                "suspended_reason": None,
                "suspended_by": None,
                "suspended_by_name": None,
                "reinstated_at": now,
                "updated_at": now,
                "changed_by": by.key_id,
                "changed_by_name": by.name,
            },
        )
        await self.say(
            tx,
            RepReinstated(lead_id="", rep_id=rep.id, reason=reason),
            subject=f"rep:{rep.id}",
        )

    # --- reading ------------------------------------------------------------------------------

    async def view(self, conn: Conn, lead: LeadRecord) -> AssignmentOut:
        a = (
            await repository.get_assignment(conn, lead.assignment_id)
            if lead.assignment_id
            else None
        )
        return AssignmentOut(
            lead_id=lead.lead_id,
            status=lead.status,  # type: ignore[arg-type]
            rep_id=lead.rep_id,
            assignment_id=lead.assignment_id,
            pool=lead.pool,
            rule=lead.rule,
            strategy=lead.strategy,
            queue=lead.queue,
            held_until=lead.held_until,
            assigned_at=a.assigned_at if a else None,
            accepted_at=a.accepted_at if a else None,
            first_touch_due_at=a.first_touch_due_at if a else None,
            touched_at=a.touched_at if a else None,
            first_touch=a.first_touch if a else None,  # type: ignore[arg-type]
            cadence=cadence_of(a) if a else None,
            return_reason=lead.return_reason,
            explanation=lead.explanation,
            history=await repository.history(conn, lead.lead_id),
            score=lead.score,
            lead=lead.profile,
            created_at=lead.created_at,
            updated_at=lead.updated_at,
        )


def cadence_of(a: AssignmentRecord) -> CadenceOut:
    return CadenceOut(
        status=a.cadence,  # type: ignore[arg-type]
        due_at=a.cadence_due_at,
        calls=Attempts(required=a.calls_required, counted=a.calls_counted, made=a.calls_made),
        emails=Attempts(required=a.emails_required, counted=a.emails_counted, made=a.emails_made),
        min_spacing_minutes=a.min_spacing_minutes,
        connected_at=a.connected_at,
        resolved_at=a.cadence_resolved_at,
    )


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


T = TypeVar("T")


def _or(value: T | None, default: T) -> T:
    return default if value is None else value
