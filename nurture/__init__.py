"""nurture: keeps in touch with long-term and returned leads until they warm up."""

from __future__ import annotations

from pathlib import Path

from contracts.events import LeadDeferred, LeadReturned
from services.db import UnitOfWork
from services.settings import Settings
from services.spec import ServiceSpec


def build(unit: UnitOfWork, settings: Settings) -> ServiceSpec:
    """Composition root."""
    from nurture.api import build_router
    from nurture.consumers import on_lead_deferred, on_lead_returned, on_touch_due
    from nurture.service import TOUCH

    return ServiceSpec(
        name="nurture",
        router=build_router(unit),
        handlers={LeadDeferred: on_lead_deferred, LeadReturned: on_lead_returned},
        timer_handlers={TOUCH: on_touch_due},
        migrations=Path(__file__).parent / "migrations",
    )
