"""What ingest's routes share (`IngestApi`): built once per service by `ingest.api.build_router`
and handed to each route as the `Ingest` dependency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from ingest.intake import Every
from ingest.ratelimit import RateLimiter
from ingest.roundstore import RoundStore, Touches
from ingest.settings import IngestSettings
from ingest.sources import SourceCatalog
from services.binding import Binding
from services.db import UnitOfWork
from services.groupcommit import GroupCommitter


@dataclass(frozen=True)
class IngestApi:
    """What ingest's routes share: built once per service by `build_router`."""

    unit: UnitOfWork
    catalog: SourceCatalog
    limiter: RateLimiter
    unverified_limiter: RateLimiter
    settings: IngestSettings
    committer: GroupCommitter[Touches, RoundStore]
    """The leads, their idempotency records and webhooks' deliveries are written in rounds
    shared by concurrent requests; each round checks the sources' version once."""
    purge: Every
    """When a signed webhook also drops the expired replay records."""
    purge_answers: Every
    """When a lead with an Idempotency-Key also drops the answers past their window."""
    on_pending: Callable[[], None]
    """Called after a commit that stored deliveries to fetch (it wakes the FetchWorker)."""


bound = Binding[IngestApi]("ingest")
Ingest = Annotated[IngestApi, Depends(bound)]
"""The `IngestApi` of the router that took the request."""
