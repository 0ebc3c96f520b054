"""ingest: takes leads in, normalises them and says `lead.captured`."""

from __future__ import annotations

from pathlib import Path

from services.db import UnitOfWork
from services.settings import Settings
from services.spec import ServiceSpec


def build(unit: UnitOfWork, settings: Settings) -> ServiceSpec:
    """Composition root."""
    from ingest.api import build_router

    return ServiceSpec(
        name="ingest",
        router=build_router(unit),
        migrations=Path(__file__).parent / "migrations",
    )
