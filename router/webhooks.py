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
`webhook-signature` (`v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}` with the
base64-decoded part of the `whsec_` secret). The body is
`{"type", "timestamp", "data"}` as the specification recommends, plus `subject`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import timedelta

import httpx
import orjson

from contracts.envelope import Envelope
from contracts.events import EventData
from router import metrics, repository
from router.config import RoutingConfig
from router.settings import RouterSettings
from services import tracing
from services.crypto import SecretBox
from services.db import Tx, UnitOfWork
from services.egress import PrivateAddress, check_public
from services.groupcommit import GroupCommitter
from services.outbound import DeadlineExceeded, OutboundClient
from services.outbox import emit
from services.reference import Reference
from services.workpool import KeyedPool, LeasingWorker

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


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


class Announcer:
    """Says router events: the outbox, plus a delivery per matching subscription."""

    def __init__(self, settings: RouterSettings, routing: Reference[RoutingConfig]) -> None:
        self.retry_for = timedelta(hours=settings.webhook_retry_hours)
        self.routing = routing

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
        subs = (config or await self.routing.current(tx)).subscribers
        if not subs:
            return envelope
        rep_ids = {v for v in (envelope.data.get("rep_id"), envelope.data.get("from_rep_id")) if v}
        now = tx.now()
        body = body_of(envelope)
        rows = [
            {
                "id": str(uuid.uuid4()),
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
            for s in subs
            if (not s.event_types or envelope.type in s.event_types)
            and (s.rep_id is None or s.rep_id in rep_ids)
        ]
        await repository.insert_deliveries(tx, rows)
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
        self.outcomes = GroupCommitter(unit)

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
        async with self.unit.read() as conn:
            if not await repository.any_due(conn, now):
                return 0
        async with self.unit.transaction() as tx:
            now = tx.now()
            claimed = await repository.claim_due(
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

    async def _attempt(self, delivery: repository.DueDelivery) -> None:
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

    async def _send(self, delivery: repository.DueDelivery) -> None:
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
        await self._record(delivery, status, error, permanent=permanent)

    async def _record(
        self,
        delivery: repository.DueDelivery,
        status: int | None,
        error: str | None,
        *,
        permanent: bool = False,
    ) -> None:
        """Record an attempt. Attempts finishing together share one transaction (group
        commit), so a burst of deliveries is not a burst of commits."""

        async def write(tx: Tx) -> str:
            return await self._write_outcome(tx, delivery, status, error, permanent)

        outcome = await self.outcomes.run(write)
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
        delivery: repository.DueDelivery,
        status: int | None,
        error: str | None,
        permanent: bool,
    ) -> str:
        """Store the attempt's outcome: delivered, dead, or failed (and when to retry)."""
        now = tx.now()
        common = {
            "attempts": delivery.attempts + 1,
            "last_attempt_at": now,
            "last_status_code": status,
        }
        if error is None:
            await repository.update_delivery(
                tx,
                delivery.id,
                status="delivered",
                delivered_at=now,
                next_attempt_at=None,
                last_error=None,
                **common,
            )
            return "delivered"
        if permanent or now >= delivery.expires_at:
            await repository.update_delivery(
                tx, delivery.id, status="dead", next_attempt_at=None, last_error=error, **common
            )
            return "dead"
        # The last try lands on the expiry, so retries span the whole window.
        following = min(
            now + backoff(delivery.attempts + 1, self.settings.webhook_max_backoff_s),
            delivery.expires_at,
        )
        await repository.update_delivery(
            tx, delivery.id, next_attempt_at=following, last_error=error, **common
        )
        return "failed"
