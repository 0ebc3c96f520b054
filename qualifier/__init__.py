"""qualifier: stages and scores each lead against the agreed, versioned definitions and
learns from closed opportunities."""

from __future__ import annotations

from pathlib import Path

from contracts.events import (
    ErasureRequested,
    LeadCaptured,
    LeadMerged,
    LeadRecycled,
    OpportunityClosed,
)
from services.db import UnitOfWork
from services.erasure import skip_erased, skip_erased_batch
from services.settings import Settings
from services.spec import ServiceSpec


def build(unit: UnitOfWork, settings: Settings) -> ServiceSpec:
    """Composition root. Refuses to start with a definitions file that does not validate
    (the error names the file's line)."""
    from qualifier import repository
    from qualifier.api import build_router
    from qualifier.catalog import DefinitionsCatalog
    from qualifier.consumers import Consumers
    from qualifier.definitions import DEFAULT_FILE, load_file
    from qualifier.service import Qualifier
    from qualifier.settings import QualifierSettings

    qualifier_settings = QualifierSettings()
    path = qualifier_settings.definitions_file or DEFAULT_FILE
    definitions = load_file(path)
    catalog = DefinitionsCatalog(path.read_text(encoding="utf-8"), definitions, path.name)
    qualifier = Qualifier(catalog, qualifier_settings)
    consumers = Consumers(qualifier)
    return ServiceSpec(
        name="qualifier",
        router=build_router(unit, qualifier),
        handlers=skip_erased(
            {
                OpportunityClosed: consumers.on_opportunity_closed,
                ErasureRequested: consumers.on_erasure_requested,
            },
            repository.is_erased,
        ),
        # One function for the three lead events, so that a run of them is decided together.
        batch_handlers=skip_erased_batch(
            dict.fromkeys((LeadCaptured, LeadMerged, LeadRecycled), consumers.on_lead_events),
            repository.erased_among,
        ),
        migrations=Path(__file__).parent / "migrations",
    )
