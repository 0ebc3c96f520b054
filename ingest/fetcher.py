"""Fetches the leads a webhook only named (Meta, LinkedIn, HubSpot app webhooks) from the
provider's API, outside any database transaction.

A due pending delivery is leased (so replicas do not fetch it twice), fetched, and then
either recorded as a lead, rejected with its reason (the provider says it can never be
used), or scheduled for another try with exponential backoff. After
`LEADFARM_INGEST_FETCH_MAX_ATTEMPTS` tries it is marked failed, kept, and listed at
`GET /ingest/v1/deliveries?status=failed`, where an operator can retry it. Nothing is
dropped.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx

from ingest import metrics, repository, service
from ingest.providers import get as get_provider
from ingest.providers.base import FetchFailed, FetchRef, Unusable
from ingest.records import PendingFetch
from ingest.roundstore import RoundStore
from ingest.settings import IngestSettings
from ingest.sources import SourceCatalog
from services.db import UnitOfWork
from services.egress import refuse_private
from services.outbound import OutboundClient
from services.workpool import KeyedPool, LeasingWorker

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, ... capped at an hour."""
    return timedelta(seconds=min(5 * 2 ** (attempts - 1), 3600))


class FetchWorker(LeasingWorker):
    name = "fetch"

    def __init__(self, unit: UnitOfWork, catalog: SourceCatalog, settings: IngestSettings) -> None:
        # Half the slots at most for one source: one slow provider API leaves the others
        # theirs.
        pool = KeyedPool(
            "fetch",
            limit=settings.fetch_concurrency,
            per_key=max(1, settings.fetch_concurrency // 2),
        )
        super().__init__(pool, settings.fetch_poll_interval_s)
        self.unit = unit
        self.catalog = catalog
        self.settings = settings

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = OutboundClient(
                deadline_s=self.settings.fetch_timeout_s,
                user_agent="leadfarm-ingest",
                # Every request an adapter makes is checked (SSRF): a refused one fails as
                # an unreachable API does, so the delivery is retried and says why.
                on_request=[] if self.settings.allow_private_api_urls else [refuse_private],
            )
        return self._http

    async def _start_due(self) -> int:
        if self.pool.free <= 0:
            return 0
        async with self.unit.transaction() as tx:
            now = tx.now()
            claimed = await repository.claim_pending(
                tx,
                now,
                now + LEASE,
                self.pool.free,
                per_source=self.pool.per_key,
                in_flight=self.pool.in_flight(),
            )
            if claimed:
                await self.catalog.refresh(tx)  # sources as of now, for what was claimed
        for pending in claimed:
            self.pool.start(pending.source, self._fetch(pending))
        return len(claimed)

    async def _fetch(self, pending: PendingFetch) -> None:
        try:
            await self._fetch_one(pending)
        except Exception as exc:  # noqa: BLE001 - counted, retried with backoff, then failed
            log.warning("fetching delivery %s failed unexpectedly: %r", pending.delivery_id, exc)
            await self._retry_later(pending, f"{type(exc).__name__}: {exc}")

    async def _fetch_one(self, pending: PendingFetch) -> None:
        source = self.catalog.cached(pending.source)
        provider = get_provider(source.provider) if source else None
        try:
            if source is None or provider is None:
                raise Unusable(f"source {pending.source!r} no longer exists")
            try:
                raw = await provider.fetch(
                    FetchRef(pending.external_id, pending.ref), source, self.http()
                )
            finally:
                self.pool.let_go()  # done with the provider's API: its slot goes to the next fetch
            profile = service.profile_from_raw(raw, source)
        except (Unusable, service.InvalidLead) as exc:
            await self._finish(pending, status="rejected", reason=str(exc))
            metrics.REJECTIONS.labels(pending.source, "unusable").inc()
            return
        except (FetchFailed, httpx.HTTPError) as exc:
            await self._retry_later(pending, f"{type(exc).__name__}: {exc}")
            return
        async with self.unit.transaction() as tx:
            store = await RoundStore.load(
                tx,
                [service.touches(profile, pending.external_id)],
                self.settings.idempotency_window,
            )
            await service.record(
                store,
                profile,
                external_id=pending.external_id,
                payload={"fields": dict(raw.fields), "ref": pending.ref},
                pending_delivery_id=pending.delivery_id,
            )
        metrics.DELIVERIES.labels(pending.source, "fetched").inc()

    async def _finish(self, pending: PendingFetch, status: str, reason: str) -> None:
        async with self.unit.transaction() as tx:
            await repository.set_delivery(
                tx,
                pending.delivery_id,
                status=status,
                reason=reason[:2000],
                next_attempt_at=None,
                attempts=pending.attempts + 1,
            )

    async def _retry_later(self, pending: PendingFetch, error: str) -> None:
        attempts = pending.attempts + 1
        async with self.unit.transaction() as tx:
            if attempts >= self.settings.fetch_max_attempts:
                await repository.set_delivery(
                    tx,
                    pending.delivery_id,
                    status="failed",
                    attempts=attempts,
                    last_error=error[:2000],
                    next_attempt_at=None,
                    reason=f"the provider's API failed {attempts} times; retry it when fixed",
                )
                metrics.REJECTIONS.labels(pending.source, "fetch_failed").inc()
                log.error(
                    "giving up fetching delivery %s after %d tries: %s",
                    pending.delivery_id,
                    attempts,
                    error,
                )
            else:
                await repository.set_delivery(
                    tx,
                    pending.delivery_id,
                    attempts=attempts,
                    last_error=error[:2000],
                    next_attempt_at=tx.now() + backoff(attempts),
                )
