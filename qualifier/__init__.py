"""qualifier: stages and scores each lead against the agreed, versioned definitions and
learns from closed opportunities."""

from __future__ import annotations

from functools import partial
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
    from qualifier.api import build_router
    from qualifier.backtest_api import build_backtest_router
    from qualifier.backtests import QualifierBacktest
    from qualifier.catalog import DefinitionsCatalog
    from qualifier.consumers import Consumers
    from qualifier.definitions import DEFAULT_FILE, load_file
    from qualifier.models import backtests as backtest_jobs
    from qualifier.service import Qualifier
    from qualifier.settings import QualifierSettings
    from services.backtests import BacktestJobs

    qualifier_settings = QualifierSettings()
    path = qualifier_settings.definitions_file or DEFAULT_FILE
    definitions = load_file(path)
    catalog = DefinitionsCatalog(path.read_text(encoding="utf-8"), definitions, path.name)
    qualifier = Qualifier(catalog, qualifier_settings)
    consumers = Consumers(qualifier)
    backtests = BacktestJobs(unit, backtest_jobs)
    api = build_router(unit, qualifier)
    api.include_router(
        build_backtest_router(QualifierBacktest(qualifier, unit), backtests, settings.audit_url)
    )
    return ServiceSpec(
        name="qualifier",
        router=api,
        handlers=skip_erased(
            {
                OpportunityClosed: consumers.on_opportunity_closed,
                ErasureRequested: consumers.on_erasure_requested,
            },
        ),
        # One function for the three lead events, so that a run of them is decided together.
        batch_handlers=skip_erased_batch(
            dict.fromkeys((LeadCaptured, LeadMerged, LeadRecycled), consumers.on_lead_events),
        ),
        workers=[backtests],
        migrations=Path(__file__).parent / "migrations",
        on_start=[partial(catalog.seed, unit), backtests.on_start],
    )
