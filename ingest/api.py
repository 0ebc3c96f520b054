"""ingest's HTTP API under /ingest/v1."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ingest import repository, service
from ingest.schemas import LeadAccepted, LeadIn, LeadOut
from services.auth import IngestOrRepKey, ManagerKey
from services.db import UnitOfWork
from services.problems import Problem, field_error


def build_router(unit: UnitOfWork) -> APIRouter:
    router = APIRouter(prefix="/ingest/v1", tags=["ingest"])

    @router.post("/leads", status_code=202, response_model=LeadAccepted)
    async def post_lead(body: LeadIn, request: Request, principal: IngestOrRepKey) -> LeadAccepted:
        """Accept one lead. Answers 202 once the lead is stored: it is never lost after that.

        A rep key submits a lead the rep found (rep prospecting, a referral at the close).
        """
        rep_id = principal.rep_id if principal.scope == "rep" else None
        try:
            profile = service.profile_of(
                body,
                provider="api",
                default_class="rep_prospecting" if rep_id else "marketing",
                rep_id=rep_id,
            )
        except service.InvalidLead as exc:
            raise Problem(
                422,
                f"The lead cannot be used: {exc}.",
                errors=[field_error(f, m) for f, m in exc.errors],
            ) from exc
        async with unit.transaction() as tx:
            lead_id = await service.capture(
                tx, profile, traceparent=request.headers.get("traceparent")
            )
        return LeadAccepted(lead_id=lead_id)

    @router.get("/leads/{lead_id}", response_model=LeadOut)
    async def get_lead(lead_id: str, _: ManagerKey) -> LeadOut:
        async with unit.read() as conn:
            lead = await repository.get_lead(conn, lead_id)
        if lead is None:
            raise Problem(404, f"There is no lead with id {lead_id!r}.")
        return lead

    return router
