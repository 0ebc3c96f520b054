"""What reps and managers do to a lead besides working it: a rep accepts or rejects it (the
next eligible rep, or back to marketing), a manager routes it again or gives it to a rep.
"""

from __future__ import annotations

from datetime import datetime

from contracts.events import LeadAccepted, LeadRejected
from router import repository
from router.decisions import Decision, Routing, view_of
from router.distribution import Pick
from router.explanation import explain
from router.records import OPEN_STATUSES, LeadRecord, Rejection, RejectOutcome, RepRecord
from router.routing import LeadRouting
from router.sla import deadlines, sla_of
from services.db import Tx
from services.errors import Conflict, Invalid


class LeadActions(LeadRouting):
    """Accepting and rejecting a lead; a manager's assignment."""

    async def accept(self, tx: Tx, lead: LeadRecord, traceparent: str | None) -> None:
        if lead.status == "accepted":
            return
        if lead.status != "assigned" or lead.assignment_id is None:
            raise Conflict(f"Lead {lead.lead_id!r} is {lead.status}; it cannot be accepted.")
        now = tx.now()
        await repository.assignments.update_assignment(tx, lead.assignment_id, accepted_at=now)
        await repository.leads.update_lead(tx, lead.lead_id, status="accepted")
        assert lead.rep_id is not None
        await self.say(
            tx,
            LeadAccepted(
                lead_id=lead.lead_id, assignment_id=lead.assignment_id, rep_id=lead.rep_id, at=now
            ),
            traceparent=traceparent,
        )

    async def reject(
        self, tx: Tx, lead: LeadRecord, body: Rejection, traceparent: str | None
    ) -> RejectOutcome:
        """Reassign the lead to the next eligible rep, or return it to marketing."""
        if lead.status not in OPEN_STATUSES or lead.assignment_id is None:
            raise Conflict(f"Lead {lead.lead_id!r} is {lead.status}; it cannot be rejected.")
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
                exclude=frozenset(await repository.assignments.reps_who_had(tx, lead.lead_id)),
                may_hold=False,
            )
            if decision.pick.rep is None:
                decision = None
        outcome: RejectOutcome = "reassigned" if decision else "returned"
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
            raise Conflict(f"Lead {lead.lead_id!r} is {lead.status}; it cannot be assigned.")
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
                raise Conflict(f"No rep can take lead {lead.lead_id!r} now: {decision.pick.why}.")
        else:
            rep = routing.config.reps.get(rep_id)
            if rep is None:
                raise Invalid("rep_id", "unknown rep", f"There is no rep {rep_id!r}.")
            if not rep.active:
                raise Conflict(f"Rep {rep_id!r} is not active.")
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
        rep: RepRecord,
        now: datetime,
        *,
        by: str,
        reason: str | None,
    ) -> Decision:
        pool = self.pool(routing.config, lead.pool or self.settings.default_pool)
        sla = sla_of(pool, self.settings)
        calendar = self.calendar_of(routing.config, rep)
        view = view_of(rep)
        why = f"assigned by a manager ({by})" + (f": {reason}" if reason else "")
        first_due, cadence_due = deadlines(calendar, sla, now)
        pick = Pick("assign", view, "manual", why, [])
        explanation = explain(
            now=now,
            trigger="manager",
            outcome="assign",
            rule={"id": "manual", "name": "a manager's choice"},
            rules_checked=[],
            pool=pool.id,
            strategy="manual",
            strategy_used="manual",
            considered=[],
            chosen=rep.id,
            why=why,
            first_touch_due_at=first_due,
            cadence_due_at=cadence_due,
            sla=sla,
        )
        await repository.routing.lock_partitions(tx, [pool.id], [rep.id])
        await routing.state.load(tx, pool.id, {rep.id: calendar.local_midnight(now)}, cursor=False)
        return Decision(pick, "manual", pool, sla, first_due, cadence_due, explanation)
