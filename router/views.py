"""The read side of a lead in the router: its status, assignment, deadlines and cadence,
explanation and history, as the API shows them.
"""

from __future__ import annotations

from router import repository
from router.domain import Domain
from router.records import AssignmentRecord, LeadRecord
from router.repository import Conn
from router.schemas.leads import AssignmentOut, Attempts, CadenceOut, HistoryOut


class Views(Domain):
    """A lead as the API shows it."""

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
