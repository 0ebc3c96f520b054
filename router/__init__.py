"""router: assigns sales-ready leads to reps and holds them to the contact cadence."""

from __future__ import annotations

from pathlib import Path

from contracts.events import LeadQualified
from services.db import UnitOfWork
from services.settings import Settings
from services.spec import ServiceSpec


def build(unit: UnitOfWork, settings: Settings) -> ServiceSpec:
    """Composition root."""
    from router.api import build_router
    from router.consumers import FIRST_TOUCH, Consumers
    from router.settings import RouterSettings

    router_settings = RouterSettings()
    consumers = Consumers(router_settings)
    return ServiceSpec(
        name="router",
        router=build_router(unit),
        handlers={LeadQualified: consumers.on_lead_qualified},
        timer_handlers={FIRST_TOUCH: consumers.on_first_touch_due},
        migrations=Path(__file__).parent / "migrations",
    )
