"""The read side of a lead in the router: its status, assignment (deadlines and cadence)
and history, which the API shows (schemas/leads.py `AssignmentOut.of`).
"""

from __future__ import annotations

from collections.abc import Sequence

from router import repository
from router.domain import Domain
from router.records import AssignmentRecord, LeadRecord, LeadView, Opportunity
from router.repository import Conn


class LeadViews(Domain):
    """A lead as the API shows it, and the reads the API makes of leads and opportunities."""

    async def lead_of(
        self, conn: Conn, lead_id: str, *, for_update: bool = False
    ) -> LeadRecord | None:
        """The lead; `for_update` locks its row until the transaction ends."""
        return await repository.leads.get_lead(conn, lead_id, for_update=for_update)

    async def queued(self, conn: Conn) -> list[LeadView]:
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

    async def view(self, conn: Conn, lead: LeadRecord) -> LeadView:
        a = (
            await repository.assignments.get_assignment(conn, lead.assignment_id)
            if lead.assignment_id
            else None
        )
        return LeadView(lead, a, await repository.assignments.history(conn, lead.lead_id))
