"""nurture's HTTP API under /nurture/v1."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from nurture.models import enrolments
from services.auth import ManagerKey
from services.db import UnitOfWork
from services.problems import Problem


class EnrolmentOut(BaseModel):
    id: str
    lead_id: str
    track: str
    reason: str
    status: str
    step: int
    enrolled_at: datetime
    next_touch_at: datetime | None


def build_router(unit: UnitOfWork) -> APIRouter:
    router = APIRouter(prefix="/nurture/v1", tags=["nurture"])

    @router.get("/leads/{lead_id}", response_model=EnrolmentOut)
    async def get_enrolment(lead_id: str, _: ManagerKey) -> EnrolmentOut:
        """The lead's current nurture enrolment: track, step and next touch."""
        async with unit.read() as conn:
            row = (
                await conn.execute(
                    select(enrolments)
                    .where(enrolments.c.lead_id == lead_id)
                    .order_by(enrolments.c.enrolled_at.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            raise Problem(404, f"Lead {lead_id!r} is not in nurture.")
        return EnrolmentOut.model_validate(row, from_attributes=True)

    return router
