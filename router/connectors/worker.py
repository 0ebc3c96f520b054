"""Connector deliveries: queued with the event that causes them, sent by a worker outside
any transaction.

The worker is the router's webhook worker's kin: a `LeasingWorker` (services/workpool.py)
leasing due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL), a `KeyedPool` giving each
connector its share of the slots (a slow vendor holds only its own), outcomes recorded in
group-committed transactions, and the same retry schedule (`router.webhooks.next_attempt`:
exponential backoff until the retry window closes, then dead with the vendor's error).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import orjson
from pydantic import ValidationError

from contracts.envelope import Envelope
from contracts.ids import new_id
from router import metrics
from router.config import RoutingConfig
from router.connectors import KINDS, repository
from router.connectors.base import (
    ConnectorConfig,
    Delivery,
    Planned,
    Target,
    VendorError,
    Written,
)
from router.settings import RouterSettings
from router.webhooks import body_of, next_attempt
from services.crypto import SecretBox
from services.db import Tx, UnitOfWork
from services.egress import PrivateAddress, check_public
from services.groupcommit import GroupCommitter, transaction_only
from services.outbound import OutboundClient
from services.reference import Reference
from services.workpool import KeyedPool, LeasingWorker

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
ORPHAN_SWEEP_EVERY_S = LEASE.total_seconds()
"""How often, at most, a claim that took nothing looks for deliveries of deleted
connectors (`delete_orphans`: a read of every pending delivery)."""
OUTCOME_LINGER_S = 0.02


def open_target(
    connector: ConnectorConfig, box: SecretBox, reps: Mapping[str, Any] | None = None
) -> Target:
    """The connector with its settings parsed and its credentials opened (in memory only)."""
    kind = KINDS[connector.kind]
    return Target(
        connector=connector,
        settings=kind.settings_model.model_validate(connector.settings),
        credentials=kind.credentials_model.model_validate(
            orjson.loads(box.open(connector.credentials))
        ),
        reps=reps or {},
    )


class ConnectorWorker(LeasingWorker):
    """Sends due connector deliveries and records what the vendor answered."""

    name = "connectors"

    def __init__(
        self,
        unit: UnitOfWork,
        settings: RouterSettings,
        routing: Reference[RoutingConfig],
        box: SecretBox,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        pool = KeyedPool(
            "connectors",
            limit=settings.connector_concurrency,
            per_key=settings.connector_concurrency_per_connector,
        )
        super().__init__(pool, settings.webhook_poll_interval_s)
        self.unit = unit
        self.settings = settings
        self.routing = routing
        self.box = box
        self.transport = transport
        self.retry_for = timedelta(hours=settings.connector_retry_hours)
        self.outcomes = GroupCommitter(unit, transaction_only, linger_s=OUTCOME_LINGER_S)
        self._swept_at: float | None = None

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = OutboundClient(
                deadline_s=self.settings.webhook_timeout_s,
                user_agent="leadfarm-router-connectors",
                transport=self.transport,
            )
        return self._http

    # --- queued with the event ------------------------------------------------------------

    def queue(self, tx: Tx, envelope: Envelope, config: RoutingConfig) -> None:
        """The deliveries each active connector's kind plans for this event (one at once, a
        reminder later), written with the transaction's outbox rows; the worker is woken
        when it commits."""
        wanted = [
            c
            for c in config.connectors
            if c.active and c.kind in KINDS and envelope.type in KINDS[c.kind].event_types
        ]
        if not wanted:
            return
        now = tx.now()
        body = body_of(envelope)
        rows = []
        for c in wanted:
            kind = KINDS[c.kind]
            try:
                settings = kind.settings_model.model_validate(c.settings)
                plans = kind.plan(envelope.type, envelope.data, settings, now)
            except ValidationError:
                # Stored settings this version cannot read never fail routing: the one
                # delivery is queued, and fails at send (retried, then dead), logged.
                plans = [Planned(envelope.type)]
            for planned in plans:
                due = planned.at or now
                rows.append(
                    {
                        "id": new_id(),
                        "connector_id": c.id,
                        "event_id": f"{envelope.id}/{planned.key}" if planned.key else envelope.id,
                        "event_type": planned.event_type,
                        "lead_id": envelope.subject or None,
                        "payload": body,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": due,
                        "expires_at": due + self.retry_for,
                        "created_at": now,
                    }
                )
        if not rows:
            return
        repository.deliveries.queue_deliveries(tx, rows)
        tx.after_commit(self.wake)

    # --- sent by the worker ---------------------------------------------------------------

    async def _start_due(self) -> int:
        if self.pool.free <= 0:
            return 0
        now = self.unit.clock.now()
        full = self.pool.full()
        async with self.unit.read() as conn:
            self.held_back = await repository.deliveries.any_due(conn, now)
            if not self.held_back:
                return 0
            # Every connector has its share running: the claim, which skips their
            # deliveries, could take nothing, and would read every due one to find it out.
            if full and not await repository.connectors.any_besides(conn, full):
                return 0
        async with self.unit.transaction() as tx:
            now = tx.now()
            claimed = await repository.deliveries.claim_due(
                tx, now, now + LEASE, self.pool.free, full
            )
            if not claimed and (
                self._swept_at is None or time.monotonic() - self._swept_at >= ORPHAN_SWEEP_EVERY_S
            ):
                # Something is due that no connector's seek found: perhaps the deliveries
                # of a connector deleted meanwhile.
                self._swept_at = time.monotonic()
                if orphans := await repository.deliveries.delete_orphans(tx):
                    log.info("deleted %d deliveries of deleted connectors", orphans)
        for delivery in claimed:
            self.pool.start(delivery.connector_id, self._send(delivery))
        return len(claimed)

    async def _send(self, delivery: Delivery) -> None:
        status: int | None = None
        error: str | None = None
        permanent = False
        retry_after: float | None = None
        written = Written()
        kind = "unknown"
        try:
            async with self.unit.read() as conn:
                config = await self.routing.current(conn)
            connector = next((c for c in config.connectors if c.id == delivery.connector_id), None)
            if connector is None or not connector.active:
                raise VendorError("the connector was deactivated or removed", permanent=True)
            kind = connector.kind
            target = open_target(connector, self.box, config.reps)
            if delivery.event_type in KINDS[kind].reads_lead and delivery.lead_id:
                async with self.unit.read() as conn:
                    lead = await repository.deliveries.lead_now(conn, delivery.lead_id)
                target = replace(target, lead=lead)
            base = KINDS[kind].api_base_url(target.settings)
            if base and not self.settings.allow_private_webhook_urls:
                await check_public(base)
            written = await KINDS[kind].deliver(delivery, target, self.http())
            status = None if written.skipped else 200
        except VendorError as exc:
            status, error, permanent = exc.status, exc.message[:2000], exc.permanent
            retry_after = exc.retry_after_s
        except PrivateAddress as exc:
            error = f"refused: {exc} (LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS is off)"
        except Exception as exc:  # noqa: BLE001 - recorded on the delivery, retried, then dead
            # Only the type: the message of an error about the opened credentials (a
            # validation error, say) may quote them.
            log.warning(
                "connector delivery %s failed unexpectedly: %s", delivery.id, type(exc).__name__
            )
            error = f"unexpected {type(exc).__name__}; see the router's log"

        async def write(tx: Tx) -> str:
            return await self._write_outcome(
                tx, delivery, written, status, error, permanent, retry_after
            )

        self.pool.let_go()  # done with the CRM: its slot goes to the next delivery
        outcome = await self.outcomes.run(write, None)
        metrics.CONNECTOR_ATTEMPTS.labels(delivery.connector_id, kind, outcome).inc()
        if outcome == "dead":
            log.error(
                "connector delivery %s (%s, connector %s) is dead after %d attempts: %s",
                delivery.id,
                delivery.event_type,
                delivery.connector_id,
                delivery.attempts + 1,
                error,
            )

    async def _write_outcome(
        self,
        tx: Tx,
        delivery: Delivery,
        written: Written,
        status: int | None,
        error: str | None,
        permanent: bool,
        retry_after_s: float | None,
    ) -> str:
        now = tx.now()
        outcome, following = next_attempt(
            now,
            delivery.attempts + 1,
            delivery.expires_at,
            failed=error is not None,
            permanent=permanent,
            max_backoff_s=self.settings.webhook_max_backoff_s,
            at_least_s=retry_after_s,
        )
        if outcome == "delivered" and written.skipped:
            outcome, error = "skipped", written.skipped
        if outcome == "delivered" and written.record_id and delivery.lead_id:
            await repository.crm.link_record(
                tx, delivery.connector_id, delivery.lead_id, written.record_id, now
            )
        repository.deliveries.record_attempt(
            tx,
            delivery.id,
            status="pending" if outcome == "failed" else outcome,
            attempts=delivery.attempts + 1,
            attempted_at=now,
            status_code=status,
            error=error,
            next_attempt_at=following,
        )
        return outcome
