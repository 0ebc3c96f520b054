"""Recording a decision: an assignment (with its first-touch and cadence deadlines as durable
timers), a hold until a rep's working hours (`route_held`, routed again then) or the
fallback queue (an alert); ending an assignment and returning a lead to marketing.
`on_qualified` routes a batch of sales-ready leads in one transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from contracts.events import LeadAssigned, LeadQualified, LeadQueued, LeadReassigned, LeadReturned
from contracts.ids import new_id
from router import metrics, repository
from router.decisions import Decision, Decisions, Routing
from router.records import AssignmentRecord, LeadRecord
from router.sla import CADENCE_END, FIRST_TOUCH, HELD
from services import timers
from services.consumer import Incoming
from services.db import Tx
from services.timers import Timer

log = logging.getLogger(__name__)

FALLBACK_QUEUE = "fallback"
HOLD_QUEUE = "hold"


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


class LeadRouting(Decisions):
    """Recording decisions: assign, hold, queue, end an assignment, return a lead."""

    # --- recording decisions ---------------------------------------------------------------

    async def on_qualified(self, tx: Tx, events: Sequence[Incoming[LeadQualified]]) -> None:
        """Sales-ready leads, in order: route each, unless it is already with the router (a
        lead that was returned or lost and qualifies again is routed afresh). The batch's
        decisions share one read of each rep's and pool's state and write with one
        statement per table."""
        routing = await self.begin(tx)
        await self.lock(tx, routing, [(e.data.lead, e.data.decision.score) for e in events])
        known = await repository.leads.leads_by_id(
            tx, [e.data.lead_id for e in events], for_update=True
        )
        now = tx.now()
        for event in events:
            data = event.data
            lead = known.get(data.lead_id)
            score = data.decision.score
            if lead is None:
                lead = repository.leads.new_lead(data.lead_id, data.lead, score, now)
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
        assignment_id = new_id()
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
        a = await repository.assignments.get_assignment(tx, assignment_id)
        assert a is not None
        if a.ended_at is None:
            values: dict[str, Any] = {"ended_at": tx.now(), "end_reason": reason}
            if a.first_touch == "pending":
                values["first_touch"] = "void"
            if a.cadence == "running":
                values["cadence"] = "void"
            await repository.assignments.update_assignment(tx, a.id, **values)
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
        await repository.leads.update_lead(
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

    async def on_held_due(self, tx: Tx, timer: Timer) -> None:
        """A held lead's reps are starting their day: route it again."""
        lead = await repository.leads.get_lead(tx, timer.key, for_update=True)
        if lead is None or lead.status != "held":
            return
        routing = await self.begin(tx)
        await self.route(tx, routing, lead, trigger="held lead released at working hours")
        await routing.finish(tx)
