"""audit's HTTP API under /audit/v1."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from audit.models import events
from services.auth import ManagerKey
from services.db import UnitOfWork
from services.problems import Problem


class Timeline(BaseModel):
    lead_id: str
    events: list[dict[str, Any]]


def build_router(unit: UnitOfWork) -> APIRouter:
    router = APIRouter(prefix="/audit/v1", tags=["audit"])

    @router.get("/leads/{lead_id}/timeline", response_model=Timeline)
    async def timeline(lead_id: str, _: ManagerKey) -> Timeline:
        """Every event about the lead, in order, each a CloudEvent (`source` names the
        service that said it)."""
        async with unit.read() as conn:
            rows = (
                await conn.execute(
                    select(events.c.envelope)
                    .where(events.c.lead_id == lead_id)
                    .order_by(events.c.time, events.c.position)
                )
            ).all()
        if not rows:
            raise Problem(404, f"Audit has no events for lead {lead_id!r}.")
        return Timeline(lead_id=lead_id, events=[r.envelope for r in rows])

    return router
