"""Outbound webhooks to reps' tools (a CRM, a dialer, a chat channel), signed as the
Standard Webhooks specification says.

Every router event is said with `say`: `emit` writes it to the outbox and, in the same
transaction, one delivery row is written per matching subscription, so a committed event
is never without its deliveries and a rolled-back one has none. The `WebhookWorker`
(a chassis worker) leases due deliveries, posts them **outside** any transaction, and
records the answer: 2xx delivered; anything else retried with exponential backoff for
`LEADFARM_ROUTER_WEBHOOK_RETRY_HOURS` (24 by default) after the event, then marked dead
and listed at GET /router/v1/subscriptions/{id}/deliveries?status=dead, where a manager can
retry it.

Each request carries `webhook-id` (the event id: the same on every retry, the receiver's
idempotency key), `webhook-timestamp` (Unix seconds of this attempt) and
`webhook-signature`, signed by the chassis (`services/standard_webhooks.py`) with the
subscription's `whsec_` secret, as nurture's webhook sender signs too. The body is
`{"type", "timestamp", "data"}` as the specification recommends, plus `subject`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from contracts.envelope import Envelope
from contracts.events import EventData
from contracts.ids import new_id
from router import metrics, repository
from router.config import RoutingConfig, Subscriber
from router.records import DueDelivery
from router.settings import RouterSettings
from services import tracing
from services.crypto import SecretBox
from services.db import Tx, UnitOfWork
from services.egress import PrivateAddress, check_public
from services.groupcommit import GroupCommitter, transaction_only
from services.outbound import DeadlineExceeded, OutboundClient
from services.outbox import emit
from services.reference import Reference
from services.standard_webhooks import sign
from services.workpool import KeyedPool, LeasingWorker

if TYPE_CHECKING:
    from router.connectors.worker import ConnectorWorker

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
OUTCOME_LINGER_S = 0.02
"""How long a delivery's outcome waits for others to be recorded with it."""


def body_of(envelope: Envelope) -> str:
    return orjson.dumps(
        {
            "type": envelope.type,
            "timestamp": envelope.time.isoformat().replace("+00:00", "Z"),
            "subject": envelope.subject,
            "data": envelope.data,
        }
    ).decode()


def backoff(attempts: int, cap_s: float) -> timedelta:
    """5 s, 10 s, 20 s, ... doubling up to the cap (an hour by default)."""
    return timedelta(seconds=min(5 * 2 ** (attempts - 1), cap_s))


def next_attempt(
    now: datetime,
    attempts: int,
    expires_at: datetime,
    *,
    failed: bool,
    permanent: bool,
    max_backoff_s: float,
    at_least_s: float | None = None,
) -> tuple[str, datetime | None]:
    """After an attempt (the `attempts`th): delivered, dead (`permanent`, or the retry
    window is over), or failed and when to try again (the backoff, or `at_least_s` when the
    receiver asked for longer; the last try lands on the expiry, so retries span the
    whole window)."""
    if not failed:
        return "delivered", None
    if permanent or now >= expires_at:
        return "dead", None
    wait = backoff(attempts, max_backoff_s)
    if at_least_s is not None:
        wait = max(wait, timedelta(seconds=at_least_s))
    return "failed", min(now + wait, expires_at)


class Announcer:
    """Says router events: the outbox, plus a delivery per matching subscription."""

    def __init__(self, settings: RouterSettings, routing: Reference[RoutingConfig]) -> None:
        self.retry_for = timedelta(hours=settings.webhook_retry_hours)
        self.routing = routing
        self.handoff: WebhookWorker | None = None
        """The worker that posts what this process queues the moment it commits."""
        self.connectors: ConnectorWorker | None = None
        """Queues each event's connector deliveries (router/connectors/)."""

    async def say(
        self,
        tx: Tx,
        data: EventData,
        *,
        traceparent: str | None = None,
        subject: str | None = None,
        config: RoutingConfig | None = None,
    ) -> Envelope:
        """`config`: the routing configuration the caller holds already (its subscriptions
        are the ones in force); read when not given."""
        envelope = await emit(tx, data, traceparent=traceparent, subject=subject)
        config = config or await self.routing.current(tx)
        if self.connectors is not None and config.connectors:
            self.connectors.queue(tx, envelope, config)
        subs = config.subscribers
        if not subs:
            return envelope
        rep_ids = {v for v in (envelope.data.get("rep_id"), envelope.data.get("from_rep_id")) if v}
        now = tx.now()
        body = body_of(envelope)
        matching = [
            s
            for s in subs
            if (not s.event_types or envelope.type in s.event_types)
            and (s.rep_id is None or s.rep_id in rep_ids)
        ]
        rows = [
            {
                "id": new_id(),
                "subscription_id": s.id,
                "event_id": envelope.id,
                "event_type": envelope.type,
                "lead_id": data.lead_id or None,
                "payload": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "expires_at": now + self.retry_for,
                "created_at": now,
                "traceparent": envelope.traceparent if tracing.enabled else None,
            }
            for s in matching
        ]
        await repository.deliveries.insert_deliveries(tx, rows)
        if self.handoff is not None:
            self.handoff.offer(tx, zip(rows, matching, strict=True))
        return envelope


class WebhookWorker(LeasingWorker):
    """Posts due deliveries, outside any transaction, and records what happened."""

    name = "webhook"

    def __init__(
        self,
        unit: UnitOfWork,
        settings: RouterSettings,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        box: SecretBox,
    ) -> None:
        pool = KeyedPool(
            "webhook",
            limit=settings.webhook_concurrency,
            per_key=settings.webhook_concurrency_per_subscription,
        )
        super().__init__(pool, settings.webhook_poll_interval_s)
        self.unit = unit
        self.settings = settings
        self.transport = transport
        self.box = box  # opens the subscriptions' secrets, stored sealed
        # Nothing waits on an outcome but the delivery's slot: outcomes finishing within
        # OUTCOME_LINGER_S of each other are recorded in one transaction, so deliveries
        # arriving one by one are not one commit each.
        self.outcomes = GroupCommitter(unit, transaction_only, linger_s=OUTCOME_LINGER_S)
        self._offers: weakref.WeakKeyDictionary[Tx, list[tuple[dict[str, Any], Subscriber]]] = (
            weakref.WeakKeyDictionary()
        )

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = OutboundClient(
                deadline_s=self.settings.webhook_timeout_s,
                user_agent="leadfarm-router-webhooks",
                transport=self.transport,
            )
        return self._http

    async def _start_due(self) -> int:
        """Lease as many due deliveries as there are free slots, each subscription at most
        its share, and start them; returns how many started."""
        if self.pool.free <= 0:
            return 0
        now = self.unit.clock.now()
        full = self.pool.full()
        async with self.unit.read() as conn:
            # Nothing due: a delivery that finishes frees a slot nobody waits for, so the
            # worker waits for a wake-up (or the poll), not for it (no read per delivery).
            self.held_back = await repository.deliveries.any_due(conn, now)
            if not self.held_back:
                return 0
            # Only the share kept for a subscription with none running is free, and there is
            # no subscription but those with their share running: the claim could take
            # nothing, and would read every due delivery to find it out.
            if self.pool.free <= self.pool.per_key and not (
                await repository.subscriptions.any_besides(conn, full)
            ):
                return 0
        async with self.unit.transaction() as tx:
            now = tx.now()
            claimed = await repository.deliveries.claim_due(
                tx,
                now,
                now + LEASE,
                self.pool.free,
                per_subscription=self.pool.per_key,
                in_flight=self.pool.in_flight(),
            )
        for delivery in claimed:
            self.pool.start(delivery.subscription_id, self._attempt(delivery))
        return len(claimed)

    # --- the hand-off: deliveries this process queued, posted the moment they commit ---

    def offer(self, tx: Tx, deliveries: Iterable[tuple[dict[str, Any], Subscriber]]) -> None:
        """Deliveries `tx` queued (their rows as deferred, and their subscriptions): at
        flush, those the pool has a slot for are stored leased to this process and
        started once `tx` commits, with no claim (no read, no lease, no second
        transaction). The others are claimed as usual. A crash after the commit leaves
        the lease to run out, and any replica claims the delivery then, as it would a
        claimed one."""
        offers = self._offers.setdefault(tx, [])
        if not offers:
            tx.before_flush(self._lease_offered)
        offers.extend(deliveries)

    def _held_back_now(self) -> None:
        self.held_back = True
        self.wake()

    def _lease_offered(self, tx: Tx) -> None:
        offers = self._offers.pop(tx, [])
        if tx.savepoints:
            # Written inside a savepoint that may still fail (and take the rows with it):
            # claimed once the transaction commits, never posted on the strength of a row
            # that may be undone.
            tx.after_commit(self._held_back_now)
            return
        stored = {id(row) for row in tx.deferred(repository.deliveries.INSERT_DELIVERY)}
        leased: list[DueDelivery] = []
        for row, subscriber in offers:
            # Gone when a savepoint that queued it failed: never post what is not stored.
            if id(row) not in stored or not self.pool.reserve(subscriber.id):
                continue
            row["next_attempt_at"] = tx.now() + LEASE
            leased.append(
                DueDelivery(
                    id=row["id"],
                    subscription_id=subscriber.id,
                    url=subscriber.url,
                    secret=subscriber.secret,
                    event_id=row["event_id"],
                    payload=row["payload"],
                    attempts=0,
                    expires_at=row["expires_at"],
                )
            )
        if len(leased) < len(offers):  # the rest are due now: claimed as soon as it commits
            tx.after_commit(self._held_back_now)
        if not leased:
            return

        def start() -> None:
            for delivery in leased:
                self.pool.start_reserved(delivery.subscription_id, self._attempt(delivery))
            metrics.WEBHOOKS_HANDED_OFF.inc(len(leased))

        def release() -> None:
            for delivery in leased:
                self.pool.release(delivery.subscription_id)

        tx.after_commit(start)
        tx.after_rollback(release)

    async def _attempt(self, delivery: DueDelivery) -> None:
        if not tracing.enabled:
            await self._send(delivery)
            return
        with tracing.span(
            "router",
            "webhook deliver",
            delivery.traceparent,
            **{"leadfarm.delivery_id": delivery.id, "cloudevents.event_id": delivery.event_id},
        ):
            await self._send(delivery)

    async def _send(self, delivery: DueDelivery) -> None:
        status: int | None = None
        error: str | None = None
        permanent = False
        try:
            body = delivery.payload.encode()
            timestamp = int(self.unit.clock.now().timestamp())
            headers = {
                "content-type": "application/json",
                "webhook-id": delivery.event_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(
                    self.box.open(delivery.secret), delivery.event_id, timestamp, body
                ),
            }
            if not self.settings.allow_private_webhook_urls:
                # The check resolves the host, outside the HTTP client's deadline.
                try:
                    async with asyncio.timeout(self.settings.webhook_timeout_s):
                        await check_public(delivery.url)
                except TimeoutError:
                    raise DeadlineExceeded(
                        f"resolving the host took longer than {self.settings.webhook_timeout_s:g} s"
                    ) from None
            response = await self.http().post(delivery.url, content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}: {response.text[:500]}"
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            # No retry can send to this URL: dead now, with the reason.
            error = f"the subscription's URL cannot be used: {type(exc).__name__}: {exc}"[:2000]
            permanent = True
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
        except PrivateAddress as exc:
            error = f"refused: {exc} (LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS is off)"
        except Exception as exc:  # noqa: BLE001 - recorded on the delivery, retried, then dead
            log.warning("webhook delivery %s failed unexpectedly: %r", delivery.id, exc)
            error = f"{type(exc).__name__}: {exc}"[:2000]
        self.pool.let_go()  # done with the receiver: its slot goes to the next delivery
        await self._record(delivery, status, error, permanent=permanent)

    async def _record(
        self,
        delivery: DueDelivery,
        status: int | None,
        error: str | None,
        *,
        permanent: bool = False,
    ) -> None:
        """Record an attempt. Attempts finishing together share one transaction (group
        commit), so a burst of deliveries is not a burst of commits."""

        async def write(tx: Tx) -> str:
            return await self._write_outcome(tx, delivery, status, error, permanent)

        outcome = await self.outcomes.run(write, None)
        metrics.WEBHOOKS.labels(outcome).inc()
        if outcome == "dead":
            log.error(
                "webhook delivery %s to subscription %s is dead after %d attempts: %s",
                delivery.id,
                delivery.subscription_id,
                delivery.attempts + 1,
                error,
            )

    async def _write_outcome(
        self,
        tx: Tx,
        delivery: DueDelivery,
        status: int | None,
        error: str | None,
        permanent: bool,
    ) -> str:
        """Store the attempt's outcome: delivered, dead, or failed (and when to retry)."""
        now = tx.now()
        outcome, following = next_attempt(
            now,
            delivery.attempts + 1,
            delivery.expires_at,
            failed=error is not None,
            permanent=permanent,
            max_backoff_s=self.settings.webhook_max_backoff_s,
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
