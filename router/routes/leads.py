"""The fallback queue and a lead's assignment; what reps do to their leads (activities,
accepting, rejecting, opportunities) and a manager's assignment."""

from __future__ import annotations

from fastapi import APIRouter, Request

from router.records import Closing, NewActivity, NewOpportunity, Rejection
from router.routes.common import visible_lead
from router.routes.deps import Deps
from router.schemas.leads import (
    ActivityIn,
    ActivityOut,
    AssignIn,
    AssignmentOut,
    CloseIn,
    OpportunityIn,
    OpportunityOut,
    RejectIn,
    RejectOut,
)
from services.auth import ManagerKey, RepKey
from services.problems import Problem

routes = APIRouter()


@routes.get("/queue", response_model=list[AssignmentOut])
async def queue(deps: Deps, _: ManagerKey) -> list[AssignmentOut]:
    """Leads no rep could take (the fallback queue) and leads held until working hours."""
    async with deps.unit.read() as conn:
        queued = await deps.router.queued(conn)
    return [AssignmentOut.of(v) for v in queued]


@routes.get("/leads/{lead_id}/assignment", response_model=AssignmentOut)
async def get_assignment(deps: Deps, lead_id: str, principal: RepKey) -> AssignmentOut:
    """Who has the lead, its deadlines, and why it went there: the rule, the pool, the
    strategy, and each rep considered with why they were skipped. A rep sees the leads
    assigned to them and the leads they sourced."""
    async with deps.unit.read() as conn:
        lead = await visible_lead(deps.router, conn, lead_id, principal, found=True)
        view = await deps.router.view(conn, lead)
    return AssignmentOut.of(view)


@routes.post("/leads/{lead_id}/activities", status_code=201, response_model=ActivityOut)
async def log_activity(
    deps: Deps, lead_id: str, body: ActivityIn, request: Request, principal: RepKey
) -> ActivityOut:
    """Log a call, email, meeting or note on a lead assigned to you."""
    async with deps.unit.transaction() as tx:
        lead = await visible_lead(deps.router, tx, lead_id, principal, lock=True)
        activity = await deps.router.log_activity(
            tx, lead, NewActivity(**body.model_dump()), request.headers.get("traceparent")
        )
    return ActivityOut.of(activity)


@routes.post("/leads/{lead_id}/accept", response_model=AssignmentOut)
async def accept(deps: Deps, lead_id: str, request: Request, principal: RepKey) -> AssignmentOut:
    """Accept a lead assigned to you."""
    async with deps.unit.transaction() as tx:
        lead = await visible_lead(deps.router, tx, lead_id, principal, lock=True)
        await deps.router.accept(tx, lead, request.headers.get("traceparent"))
        lead = await visible_lead(deps.router, tx, lead_id, principal)
        view = await deps.router.view(tx, lead)
    return AssignmentOut.of(view)


@routes.post("/leads/{lead_id}/reject", response_model=RejectOut)
async def reject(
    deps: Deps, lead_id: str, body: RejectIn, request: Request, principal: RepKey
) -> RejectOut:
    """Reject a lead assigned to you, with a reason: it goes to the next eligible rep,
    or back to marketing (when you say so, or when no one else can take it)."""
    async with deps.unit.transaction() as tx:
        lead = await visible_lead(deps.router, tx, lead_id, principal, lock=True)
        outcome = await deps.router.reject(
            tx, lead, Rejection(**body.model_dump()), request.headers.get("traceparent")
        )
    return RejectOut(lead_id=lead_id, outcome=outcome)


@routes.post("/leads/{lead_id}/assign", response_model=AssignmentOut)
async def assign(
    deps: Deps, lead_id: str, body: AssignIn, request: Request, principal: ManagerKey
) -> AssignmentOut:
    """Route a lead again (one in the fallback queue, say), or give it to a rep."""
    async with deps.unit.transaction() as tx:
        lead = await deps.router.lead_of(tx, lead_id, for_update=True)
        if lead is None:
            raise Problem(404, f"The router has no lead {lead_id!r}.")
        await deps.router.assign_manually(
            tx,
            lead,
            body.rep_id,
            body.reason,
            by=principal.key_id,
            traceparent=request.headers.get("traceparent"),
        )
        lead = await deps.router.lead_of(tx, lead_id)
        assert lead is not None
        view = await deps.router.view(tx, lead)
    return AssignmentOut.of(view)


@routes.post("/leads/{lead_id}/opportunities", status_code=201, response_model=OpportunityOut)
async def open_opportunity(
    deps: Deps, lead_id: str, body: OpportunityIn, request: Request, principal: RepKey
) -> OpportunityOut:
    """Open an opportunity on a lead assigned to you (`opportunity.opened`)."""
    async with deps.unit.transaction() as tx:
        lead = await visible_lead(deps.router, tx, lead_id, principal, lock=True)
        opened = await deps.router.open_opportunity(
            tx, lead, NewOpportunity(**body.model_dump()), request.headers.get("traceparent")
        )
    return OpportunityOut.of(opened)


@routes.get("/leads/{lead_id}/opportunities", response_model=list[OpportunityOut])
async def lead_opportunities(deps: Deps, lead_id: str, principal: RepKey) -> list[OpportunityOut]:
    async with deps.unit.read() as conn:
        await visible_lead(deps.router, conn, lead_id, principal)
        found = await deps.router.opportunities_of(conn, lead_id)
    return [OpportunityOut.of(o) for o in found]


@routes.post("/opportunities/{opportunity_id}/close", response_model=OpportunityOut)
async def close_opportunity(
    deps: Deps, opportunity_id: str, body: CloseIn, request: Request, principal: RepKey
) -> OpportunityOut:
    """Close your opportunity won or lost (`opportunity.closed`)."""
    async with deps.unit.transaction() as tx:
        opportunity = await deps.router.opportunity_of(tx, opportunity_id)
        if opportunity is None or (
            principal.is_rep_only and opportunity.rep_id != principal.rep_id
        ):
            raise Problem(404, f"There is no opportunity {opportunity_id!r} visible to you.")
        closed = await deps.router.close_opportunity(
            tx, opportunity, Closing(**body.model_dump()), request.headers.get("traceparent")
        )
    return OpportunityOut.of(closed)
