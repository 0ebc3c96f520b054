"""The qualifier's HTTP API under /qualifier/v1."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from qualifier import repository
from services.auth import ManagerKey
from services.db import UnitOfWork
from services.problems import Problem


def build_router(unit: UnitOfWork) -> APIRouter:
    router = APIRouter(prefix="/qualifier/v1", tags=["qualifier"])

    @router.get("/leads/{lead_id}/decision")
    async def get_decision(lead_id: str, _: ManagerKey) -> dict[str, Any]:
        """The stage, score and reasons of the qualifier's latest decision on a lead."""
        async with unit.read() as conn:
            decision = await repository.get_decision(conn, lead_id)
        if decision is None:
            raise Problem(404, f"The qualifier has no decision for lead {lead_id!r} (yet).")
        return decision

    return router
