"""Opportunities: opening one (the lead was worked: first touch and cadence met) and closing
it won or lost, which ends the assignment.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from contracts.events import OpportunityClosed, OpportunityOpened
from contracts.ids import new_id
from router import repository
from router.compliance import Compliance
from router.records import OPEN_STATUSES, Closing, LeadRecord, NewOpportunity, Opportunity
from router.routing import LeadRouting
from router.sla import CADENCE_END, FIRST_TOUCH
from services import timers
from services.db import Tx
from services.errors import Conflict


class Opportunities(LeadRouting, Compliance):
    """Opening and closing a lead's opportunities."""

    async def open_opportunity(
        self, tx: Tx, lead: LeadRecord, body: NewOpportunity, traceparent: str | None
    ) -> Opportunity:
        if lead.status not in OPEN_STATUSES or lead.assignment_id is None:
            raise Conflict(
                f"Lead {lead.lead_id!r} is {lead.status}; an opportunity needs an open lead."
            )
        a = await repository.assignments.get_assignment(tx, lead.assignment_id, for_update=True)
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
            await repository.assignments.update_assignment(tx, a.id, **changes)
        for kind in (FIRST_TOUCH, CADENCE_END):
            await timers.cancel(tx, kind, lead.lead_id)
        opportunity = Opportunity(
            id=new_id(),
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
        await repository.opportunities.insert_opportunity(tx, opportunity)
        await repository.leads.update_lead(tx, lead.lead_id, status="opportunity")
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
        opportunity: Opportunity,
        body: Closing,
        traceparent: str | None,
    ) -> Opportunity:
        lead = await repository.leads.get_lead(tx, opportunity.lead_id, for_update=True)
        assert lead is not None
        # Read again under the lead's lock: two closes at once close it once.
        current = await repository.opportunities.get_opportunity(tx, opportunity.id)
        if current is None or current.status != "open":
            raise Conflict(f"Opportunity {opportunity.id!r} is closed already.")
        amount: Decimal = body.amount if body.amount is not None else opportunity.amount
        await repository.opportunities.close_opportunity(
            tx, opportunity.id, won=body.won, amount=amount, reason=body.reason
        )
        status = "won" if body.won else "lost"
        await repository.leads.update_lead(tx, lead.lead_id, status=status)
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
        closed = await repository.opportunities.get_opportunity(tx, opportunity.id)
        assert closed is not None
        return closed
