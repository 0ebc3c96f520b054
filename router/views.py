"""The read side of a lead in the router: its status, assignment, deadlines and cadence,
explanation and history, as the API shows them.
"""

from __future__ import annotations

from collections.abc import Sequence

from router import repository
from router.domain import Domain
from router.records import AssignmentRecord, LeadRecord, Opportunity
from router.repository import Conn
from router.schemas.leads import AssignmentOut, Attempts, CadenceOut, HistoryOut


class LeadViews(Domain):
    """A lead as the API shows it, and the reads the API makes of leads and opportunities."""

    async def lead_of(
        self, conn: Conn, lead_id: str, *, for_update: bool = False
    ) -> LeadRecord | None:
        """The lead; `for_update` locks its row until the transaction ends."""
        return await repository.leads.get_lead(conn, lead_id, for_update=for_update)

    async def queued(self, conn: Conn) -> list[AssignmentOut]:
        """Leads no rep could take (the fallback queue) and leads held until working hours."""
        return [await self.view(conn, lead) for lead in await repository.leads.queued_leads(conn)]

    async def leads_of_rep(
        self, conn: Conn, rep_id: str, statuses: Sequence[str] | None
    ) -> list[tuple[LeadRecord, AssignmentRecord | None]]:
        """A rep's leads in these statuses (None: all), each with its current assignment."""
        found = await repository.leads.leads_of_rep(conn, rep_id, statuses)
        current = await repository.assignments.assignments_by_id(
            conn, [lead.assignment_id for lead in found if lead.assignment_id]
        )
        return [(lead, current.get(lead.assignment_id or "")) for lead in found]

    async def opportunities_of(self, conn: Conn, lead_id: str) -> list[Opportunity]:
        return await repository.opportunities.opportunities_of(conn, lead_id)

    async def opportunity_of(self, conn: Conn, opportunity_id: str) -> Opportunity | None:
        return await repository.opportunities.get_opportunity(conn, opportunity_id)

    async def view(self, conn: Conn, lead: LeadRecord) -> AssignmentOut:
        a = (
            await repository.assignments.get_assignment(conn, lead.assignment_id)
            if lead.assignment_id
            else None
        )
        return AssignmentOut(
            lead_id=lead.lead_id,
            status=lead.status,
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
            first_touch=a.first_touch if a else None,
            cadence=cadence_of(a) if a else None,
            return_reason=lead.return_reason,
            explanation=lead.explanation,
            history=[
                HistoryOut.of(h) for h in await repository.assignments.history(conn, lead.lead_id)
            ],
            score=lead.score,
            lead=lead.profile,
            created_at=lead.created_at,
            updated_at=lead.updated_at,
        )


def cadence_of(a: AssignmentRecord) -> CadenceOut:
    return CadenceOut(
        status=a.cadence,
        due_at=a.cadence_due_at,
        calls=Attempts(required=a.calls_required, counted=a.calls_counted, made=a.calls_made),
        emails=Attempts(required=a.emails_required, counted=a.emails_counted, made=a.emails_made),
        min_spacing_minutes=a.min_spacing_minutes,
        connected_at=a.connected_at,
        resolved_at=a.cadence_resolved_at,
    )
