"""Reps (managers add and change them, a rep reads their own), their leads and compliance,
suspending and reinstating them."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from router.records import WORKING_STATUSES
from router.routes.common import Id, changer, visible_rep
from router.routes.deps import Deps
from router.schemas.leads import ComplianceOut, RepLeadOut
from router.schemas.reps import ReinstateIn, RepFields, RepIn, RepOut, SuspendIn
from services.auth import ManagerKey, RepKey
from services.problems import Problem, field_error

NOT_NULL: tuple[str, ...] = (
    *("name", "email", "time_zone", "working_hours", "languages", "territories"),
    *("weight", "out_of_office", "active", "crm_owner_ids"),
)


routes = APIRouter()


@routes.post("/reps", status_code=201, response_model=RepOut)
async def create_rep(deps: Deps, body: RepIn, principal: ManagerKey) -> RepOut:
    """Add a rep. The defaults make them eligible at once (UTC, Monday to Friday
    09:00-17:00, weight 1, no caps)."""
    rep_id = body.id or uuid.uuid4().hex[:12]
    values = body.model_dump(mode="json", exclude={"id"})
    async with deps.unit.transaction() as tx:
        rep = await deps.reps.add(tx, rep_id, values, changer(principal))
    return RepOut.of(rep)


@routes.get("/reps", response_model=list[RepOut])
async def list_reps(deps: Deps, _: ManagerKey) -> list[RepOut]:
    async with deps.unit.read() as conn:
        found = await deps.reps.all(conn)
    return [RepOut.of(r) for r in found]


@routes.get("/reps/{rep_id}", response_model=RepOut)
async def get_rep(deps: Deps, rep_id: Id, principal: RepKey) -> RepOut:
    async with deps.unit.read() as conn:
        rep = await visible_rep(deps, conn, rep_id, principal)
    return RepOut.of(rep)


@routes.patch("/reps/{rep_id}", response_model=RepOut)
async def update_rep(deps: Deps, rep_id: Id, body: RepFields, principal: ManagerKey) -> RepOut:
    """Change a rep: calendar, languages, territories, weight, caps, out of office,
    team, active. Fields left out stay as they are; `null` clears a cap or the team.
    The rep records who changed them (`changed_by`) and when (`updated_at`)."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    nulls = [f for f in NOT_NULL if f in changes and changes[f] is None]
    if nulls:
        raise Problem(
            422,
            f"{', '.join(nulls)} cannot be null.",
            errors=[field_error(f, "cannot be null") for f in nulls],
        )
    async with deps.unit.transaction() as tx:
        rep = await deps.reps.change(tx, rep_id, changes, changer(principal))
    return RepOut.of(rep)


@routes.post("/reps/{rep_id}/reinstate", response_model=RepOut)
async def reinstate_rep(
    deps: Deps, rep_id: Id, principal: ManagerKey, body: ReinstateIn | None = None
) -> RepOut:
    """Put a suspended rep back in the distribution (`rep.reinstated`). Their compliance
    is judged afresh from now on."""
    async with deps.unit.transaction() as tx:
        rep = await deps.reps.get(tx, rep_id)
        await deps.router.reinstate(tx, rep, body.reason if body else None, changer(principal))
        rep = await deps.reps.get(tx, rep_id)
    return RepOut.of(rep)


@routes.post("/reps/{rep_id}/suspend", response_model=RepOut)
async def suspend_rep(deps: Deps, rep_id: Id, body: SuspendIn, principal: ManagerKey) -> RepOut:
    """Take a rep out of the distribution by hand, with a reason (`rep.suspended`, as
    when the router suspends them for SLA compliance, with `by` your key). They get no
    new leads until reinstated; their open leads stay theirs."""
    async with deps.unit.transaction() as tx:
        rep = await deps.reps.get(tx, rep_id)
        await deps.router.suspend(tx, rep, body.reason, changer(principal))
        rep = await deps.reps.get(tx, rep_id)
    return RepOut.of(rep)


@routes.get("/reps/{rep_id}/leads", response_model=list[RepLeadOut])
async def rep_leads(
    deps: Deps,
    rep_id: Id,
    principal: RepKey,
    status: Annotated[
        Literal["open", "all", "assigned", "accepted", "opportunity", "won", "lost"],
        Query(description="open: assigned, accepted or with an open opportunity"),
    ] = "open",
) -> list[RepLeadOut]:
    """A rep's own queue, most recently changed first."""
    async with deps.unit.read() as conn:
        await visible_rep(deps, conn, rep_id, principal)
        statuses: tuple[str, ...] | None = (
            WORKING_STATUSES if status == "open" else None if status == "all" else (status,)
        )
        found = await deps.router.leads_of_rep(conn, rep_id, statuses)
    return [RepLeadOut.of(lead, a) for lead, a in found]


@routes.get("/reps/{rep_id}/compliance", response_model=ComplianceOut)
async def rep_compliance(deps: Deps, rep_id: Id, principal: RepKey) -> ComplianceOut:
    """The share of the rep's SLA obligations met over the rolling window: first touches
    within deadline, and cadences completed (connected, or every attempt made)."""
    async with deps.unit.read() as conn:
        rep = await visible_rep(deps, conn, rep_id, principal)
        report = await deps.router.compliance(conn, rep, deps.unit.clock.now())
    return ComplianceOut.of(report)
