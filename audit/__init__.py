"""audit: keeps every event and every lead's whole story."""

from __future__ import annotations

from pathlib import Path

from contracts.events import EVENT_TYPES
from services.db import UnitOfWork
from services.settings import Settings
from services.spec import ServiceSpec


def build(unit: UnitOfWork, settings: Settings) -> ServiceSpec:
    """Composition root: audit handles every event type on every topic."""
    from audit.api import build_router
    from audit.consumers import archive

    return ServiceSpec(
        name="audit",
        router=build_router(unit),
        handlers={event_type: archive for event_type in EVENT_TYPES.values()},
        migrations=Path(__file__).parent / "migrations",
    )
