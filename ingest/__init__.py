"""ingest: takes leads in from the generic API and providers' webhooks, normalises them,
recognises the same person arriving twice, and says `lead.captured` / `lead.merged`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from contracts.events import ErasureRequested
from services.crypto import SecretBox
from services.db import UnitOfWork
from services.settings import Settings
from services.spec import ServiceSpec

BATCH_BODY_LIMIT = 4 * 1024 * 1024


async def reseal_secrets(unit: UnitOfWork, box: SecretBox) -> None:
    """Sources' secrets stored plain (before they were sealed) or under an older key are
    sealed with the current key at start (docs/operations.md, rotating the secrets key)."""
    from ingest import repository

    async with unit.transaction() as tx:
        await repository.reseal_sources(tx, box)


def build(unit: UnitOfWork, settings: Settings) -> ServiceSpec:
    """Composition root."""
    from ingest.api import build_router
    from ingest.consumers import on_erasure_requested
    from ingest.fetcher import FetchWorker
    from ingest.ratelimit import RateLimiter
    from ingest.settings import IngestSettings
    from ingest.sources import SourceCatalog, from_environment

    ingest_settings = IngestSettings()
    box = settings.secret_box()
    catalog = SourceCatalog(unit, from_environment(ingest_settings.sources), box)
    limiter = RateLimiter(ingest_settings.rate_limit_per_second, ingest_settings.rate_limit_burst)
    unverified_limiter = RateLimiter(
        ingest_settings.rate_limit_unverified_per_second,
        ingest_settings.rate_limit_unverified_burst,
    )
    fetcher = FetchWorker(unit, catalog, ingest_settings)
    router, direct_routes = build_router(
        unit, catalog, limiter, unverified_limiter, ingest_settings, on_pending=fetcher.wake
    )
    return ServiceSpec(
        name="ingest",
        router=router,
        direct_routes=direct_routes,
        handlers={ErasureRequested: on_erasure_requested},
        workers=[fetcher],
        migrations=Path(__file__).parent / "migrations",
        body_limits={"/ingest/v1/leads:batch": BATCH_BODY_LIMIT},
        on_start=[partial(reseal_secrets, unit, box)],
    )
