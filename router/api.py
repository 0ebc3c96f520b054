"""The router's HTTP API under /router/v1."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from router import repository, service
from router.schemas import ActivityIn, ActivityOut, AssignmentOut, RepIn, RepOut
from services.auth import ManagerKey, Principal, RepKey
from services.db import UnitOfWork
from services.problems import Problem


def build_router(unit: UnitOfWork) -> APIRouter:
    router = APIRouter(prefix="/router/v1", tags=["router"])

    @router.post("/reps", status_code=201, response_model=RepOut)
    async def create_rep(body: RepIn, _: ManagerKey) -> RepOut:
        rep_id = body.id or uuid.uuid4().hex[:12]
        async with unit.transaction() as tx:
            if await repository.rep_exists(tx, rep_id):
                raise Problem(409, f"A rep with id {rep_id!r} exists already.")
            return await repository.insert_rep(tx, rep_id, body)

    @router.get("/reps", response_model=list[RepOut])
    async def list_reps(_: ManagerKey) -> list[RepOut]:
        async with unit.read() as conn:
            return await repository.list_reps(conn)

    @router.get("/leads/{lead_id}/assignment", response_model=AssignmentOut)
    async def get_assignment(lead_id: str, principal: RepKey) -> AssignmentOut:
        async with unit.read() as conn:
            assignment = await repository.assignment_for(conn, lead_id)
        _check_visible(assignment, lead_id, principal)
        assert assignment is not None
        return assignment

    @router.post("/leads/{lead_id}/activities", status_code=201, response_model=ActivityOut)
    async def log_activity(
        lead_id: str,
        body: ActivityIn,
        request: Request,
        principal: RepKey,
    ) -> ActivityOut:
        """Log a call, email, meeting or note on a lead assigned to you."""
        async with unit.transaction() as tx:
            assignment = await repository.assignment_for(tx, lead_id)
            _check_visible(assignment, lead_id, principal)
            assert assignment is not None
            if assignment.rep_id is None:
                raise Problem(409, f"Lead {lead_id!r} is not assigned to a rep yet.")
            return await service.log_activity(
                tx, lead_id, assignment.rep_id, body, request.headers.get("traceparent")
            )

    return router


def _check_visible(assignment: AssignmentOut | None, lead_id: str, principal: Principal) -> None:
    """A rep sees only leads assigned to them; others' leads look like missing ones."""
    if assignment is None or (principal.is_rep_only and assignment.rep_id != principal.rep_id):
        raise Problem(404, f"There is no assigned lead {lead_id!r} visible to you.")
