"""A rep's activities on a lead: a touch stops the first-touch clock, calls and emails at
least the minimum spacing apart count toward the cadence, and a connection (or every
required attempt made without one) ends it. A resolved obligation re-judges the rep.
"""

from __future__ import annotations

from typing import Any

from contracts.events import TOUCH_CHANNELS, ContactLogged
from contracts.ids import new_id
from router import metrics, repository
from router.compliance import Compliance
from router.records import OPEN_STATUSES, WORKING_STATUSES, Activity, LeadRecord, NewActivity
from router.routing import LeadRouting
from router.sla import CADENCE_END, CONNECTED_OUTCOMES, FIRST_TOUCH
from services import timers
from services.db import Tx
from services.errors import Conflict


class Activities(LeadRouting, Compliance):
    """Logging a rep's activity on a lead, counted toward the SLA."""

    async def log_activity(
        self, tx: Tx, lead: LeadRecord, body: NewActivity, traceparent: str | None
    ) -> Activity:
        if lead.status not in WORKING_STATUSES or lead.assignment_id is None:
            raise Conflict(f"Lead {lead.lead_id!r} is {lead.status}; it takes no activities.")
        a = await repository.assignments.get_assignment(tx, lead.assignment_id, for_update=True)
        assert a is not None
        rep = await repository.reps.get_rep(tx, a.rep_id)
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
            await repository.assignments.update_assignment(tx, a.id, **changes)
        activity = Activity(
            id=new_id(),
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
        await repository.activities.insert_activity(tx, activity)
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
