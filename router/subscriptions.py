"""Managing webhook subscriptions and their deliveries, what the subscriptions' routes call
(queuing and sending deliveries is webhooks.py's)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from contracts.ids import new_id
from router import repository
from router.records import DeliveryStatus, Subscription, WebhookDelivery
from router.repository import Conn
from router.settings import RouterSettings
from services.crypto import SecretBox
from services.db import Tx
from services.egress import PrivateAddress, check_public
from services.errors import Conflict, Invalid, NotFound
from services.standard_webhooks import new_secret


class Subscriptions:
    """Webhook subscriptions (their secrets sealed by `box`) and their deliveries."""

    def __init__(self, settings: RouterSettings, box: SecretBox) -> None:
        self.settings = settings
        self.box = box

    async def refuse_private(self, url: str) -> None:
        """SSRF: a manager may not aim the router at the private network (services/egress).
        It looks the name up: call it before the transaction."""
        if self.settings.allow_private_webhook_urls:
            return
        try:
            await check_public(url)
        except PrivateAddress as exc:
            raise Invalid(
                "url",
                f"must reach a public address: {exc}",
                f"The URL cannot be used: {exc}. Webhooks go to public addresses only; set "
                "LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS=true where the router may call "
                "private ones (a local tool, a test).",
            ) from exc

    async def _check_rep(self, conn: Conn, rep_id: str | None) -> None:
        if rep_id is not None and not await repository.reps.rep_exists(conn, rep_id):
            raise Invalid("rep_id", "unknown rep", f"There is no rep {rep_id!r}.")

    async def add(
        self,
        tx: Tx,
        *,
        url: str,
        events: list[str],
        rep_id: str | None,
        description: str | None,
        active: bool,
    ) -> tuple[Subscription, str]:
        """The new subscription, and its secret (shown once: only its seal is kept)."""
        secret = new_secret()
        await self._check_rep(tx, rep_id)
        now = tx.now()
        subscription_id = new_id()
        await repository.subscriptions.insert_subscription(
            tx,
            {
                "id": subscription_id,
                "url": url,
                "event_types": events,
                "rep_id": rep_id,
                "description": description,
                "secret": self.box.seal(secret),
                "active": active,
                "created_at": now,
                "updated_at": now,
            },
        )
        return await self.get(tx, subscription_id), secret

    async def all(self, conn: Conn) -> list[Subscription]:
        return await repository.subscriptions.list_subscriptions(conn)

    async def get(self, conn: Conn, subscription_id: str) -> Subscription:
        found = await repository.subscriptions.get_subscription(conn, subscription_id)
        if found is None:
            raise NotFound(f"There is no subscription {subscription_id!r}.")
        return found

    async def change(self, tx: Tx, subscription_id: str, changes: dict[str, Any]) -> Subscription:
        """Change the columns in `changes` (`event_types`, not the API's `events`)."""
        await self.get(tx, subscription_id)
        await self._check_rep(tx, changes.get("rep_id"))
        if changes:
            await repository.subscriptions.update_subscription(tx, subscription_id, changes)
        return await self.get(tx, subscription_id)

    async def delete(self, tx: Tx, subscription_id: str) -> None:
        """Remove the subscription and its deliveries."""
        if not await repository.subscriptions.delete_subscription(tx, subscription_id):
            raise NotFound(f"There is no subscription {subscription_id!r}.")

    async def deliveries(
        self, conn: Conn, subscription_id: str, status: DeliveryStatus | None, limit: int
    ) -> list[WebhookDelivery]:
        """The subscription's deliveries, newest first."""
        await self.get(conn, subscription_id)
        return await repository.deliveries.list_deliveries(conn, subscription_id, status, limit)

    async def retry(self, tx: Tx, subscription_id: str, delivery_id: str) -> WebhookDelivery:
        """Try a dead (or pending) delivery again now, with a fresh retry window."""
        found = await repository.deliveries.get_delivery(tx, delivery_id)
        if found is None or found.subscription_id != subscription_id:
            raise NotFound(f"There is no delivery {delivery_id!r} of that subscription.")
        if found.status == "delivered":
            raise Conflict(f"Delivery {delivery_id!r} was delivered already.")
        now = tx.now()
        await repository.deliveries.update_delivery(
            tx,
            delivery_id,
            status="pending",
            next_attempt_at=now,
            expires_at=now + timedelta(hours=self.settings.webhook_retry_hours),
        )
        again = await repository.deliveries.get_delivery(tx, delivery_id)
        assert again is not None
        return again
