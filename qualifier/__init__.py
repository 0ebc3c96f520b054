"""qualifier: stages and scores each lead against the agreed definition."""

from __future__ import annotations

from pathlib import Path

from contracts.events import LeadCaptured, LeadRecycled
from services.db import UnitOfWork
from services.settings import Settings
from services.spec import ServiceSpec


def build(unit: UnitOfWork, settings: Settings) -> ServiceSpec:
    """Composition root."""
    from qualifier.api import build_router
    from qualifier.consumers import on_lead_captured, on_lead_recycled

    return ServiceSpec(
        name="qualifier",
        router=build_router(unit),
        handlers={LeadCaptured: on_lead_captured, LeadRecycled: on_lead_recycled},
        migrations=Path(__file__).parent / "migrations",
    )
