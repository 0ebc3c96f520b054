"""What happens when an SLA deadline passes (the durable timers sla.py names): a missed first
touch is a breach and, when the pool says so, goes to the next eligible rep; a cadence
window that closes without a connection returns the lead to marketing (a breach too when
attempts were missing). Either re-judges the rep (compliance.py).
"""

from __future__ import annotations

import logging

from contracts.events import SlaBreached
from router import metrics, repository
from router.compliance import Compliance
from router.decisions import Decision
from router.records import OPEN_STATUSES, AssignmentRecord, LeadRecord
from router.routing import LeadRouting
from router.sla import sla_of
from services.db import Tx
from services.timers import Timer

log = logging.getLogger(__name__)


class Breaches(LeadRouting, Compliance):
    """The durable timers' handlers: first touch due, cadence window closed."""

    async def _current(self, tx: Tx, timer: Timer) -> tuple[LeadRecord, AssignmentRecord] | None:
        """The lead and the assignment a timer was set for, if both are still current."""
        lead = await repository.leads.get_lead(tx, timer.key, for_update=True)
        if lead is None or lead.assignment_id is None:
            return None
        wanted = timer.payload.get("assignment_id") or lead.assignment_id
        if wanted != lead.assignment_id:
            return None
        a = await repository.assignments.get_assignment(tx, wanted, for_update=True)
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
        rep = await repository.reps.get_rep(tx, a.rep_id)
        away = rep is not None and any(
            o.start <= a.first_touch_due_at < o.end for o in rep.out_of_office
        )
        # A rep who was out of office at the deadline is not held to it; the lead still moves.
        await repository.assignments.update_assignment(
            tx,
            a.id,
            first_touch="void" if away else "breached",
            first_touch_resolved_at=a.first_touch_due_at,
        )
        metrics.SLA.labels("first_touch", "breached").inc()
        routing = await self.begin(tx)
        pool = self.pool(routing.config, a.pool)
        sla = sla_of(pool, self.settings)
        decision: Decision | None = None
        if lead.status == "opportunity":
            action = f"kept by {a.rep_id}: an opportunity is open"
        elif not sla.reassign_on_missed_first_touch:
            action = f"kept by {a.rep_id}: pool {pool.id} does not reassign missed first touches"
        elif lead.reassignments >= sla.max_reassignments:
            action = f"kept by {a.rep_id}: reassigned {lead.reassignments} times already"
        else:
            exclude = frozenset(await repository.assignments.reps_who_had(tx, lead.lead_id))
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
        await repository.assignments.update_assignment(
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
