"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from router import repository
from router.records import DeliveryStatus, Subscription
from router.repository import Conn
from router.routes.deps import Deps
from router.schemas.subscriptions import (
    SubscriptionCreated,
    SubscriptionDeliveryOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from router.settings import RouterSettings
from services.auth import ManagerKey
from services.crypto import SecretBox
from services.egress import PrivateAddress, check_public
from services.errors import Invalid
from services.problems import Problem
from services.standard_webhooks import new_secret


def _secret_hint(secret: str) -> str:
    return secret[:10] + "…"


def _subscription_out(s: Subscription, box: SecretBox) -> SubscriptionOut:
    return SubscriptionOut(
        id=s.id,
        url=s.url,
        events=s.event_types,
        rep_id=s.rep_id,
        description=s.description,
        active=s.active,
        secret_hint=_secret_hint(box.open(s.secret)),
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


routes = APIRouter()


async def refuse_private(settings: RouterSettings, url: str) -> None:
    """SSRF: a manager may not aim the router at the private network (services/egress)."""
    if settings.allow_private_webhook_urls:
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


@routes.post("/subscriptions", status_code=201, response_model=SubscriptionCreated)
async def create_subscription(
    deps: Deps, body: SubscriptionIn, _: ManagerKey
) -> SubscriptionCreated:
    """Subscribe a tool (a CRM, a dialer, a chat channel) to router events. Deliveries
    are signed as Standard Webhooks says; the secret is shown once, here. The URL must
    reach a public address unless LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS is set."""
    await refuse_private(deps.router.settings, body.url)
    secret = new_secret()
    async with deps.unit.transaction() as tx:
        if body.rep_id is not None and not await repository.reps.rep_exists(tx, body.rep_id):
            raise Invalid("rep_id", "unknown rep", f"There is no rep {body.rep_id!r}.")
        now = tx.now()
        subscription_id = str(uuid.uuid4())
        await repository.subscriptions.insert_subscription(
            tx,
            {
                "id": subscription_id,
                "url": body.url,
                "event_types": body.events,
                "rep_id": body.rep_id,
                "description": body.description,
                "secret": deps.box.seal(secret),
                "active": body.active,
                "created_at": now,
                "updated_at": now,
            },
        )
        stored = await repository.subscriptions.get_subscription(tx, subscription_id)
    assert stored is not None
    return SubscriptionCreated(**_subscription_out(stored, deps.box).model_dump(), secret=secret)


@routes.get("/subscriptions", response_model=list[SubscriptionOut])
async def list_subscriptions(deps: Deps, _: ManagerKey) -> list[SubscriptionOut]:
    async with deps.unit.read() as conn:
        return [
            _subscription_out(s, deps.box)
            for s in await repository.subscriptions.list_subscriptions(conn)
        ]


async def subscription_or_404(conn: Conn, subscription_id: str) -> Subscription:
    found = await repository.subscriptions.get_subscription(conn, subscription_id)
    if found is None:
        raise Problem(404, f"There is no subscription {subscription_id!r}.")
    return found


@routes.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(deps: Deps, subscription_id: str, _: ManagerKey) -> SubscriptionOut:
    async with deps.unit.read() as conn:
        return _subscription_out(await subscription_or_404(conn, subscription_id), deps.box)


@routes.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def update_subscription(
    deps: Deps, subscription_id: str, body: SubscriptionPatch, _: ManagerKey
) -> SubscriptionOut:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if "events" in changes:
        changes["event_types"] = changes.pop("events") or []
    for field in ("url", "active"):
        if field in changes and changes[field] is None:
            raise Invalid(field, "cannot be null", f"{field} cannot be null.")
    if "url" in changes:
        await refuse_private(deps.router.settings, changes["url"])
    async with deps.unit.transaction() as tx:
        await subscription_or_404(tx, subscription_id)
        rep_id = changes.get("rep_id")
        if rep_id is not None and not await repository.reps.rep_exists(tx, rep_id):
            raise Invalid("rep_id", "unknown rep", f"There is no rep {rep_id!r}.")
        if changes:
            await repository.subscriptions.update_subscription(tx, subscription_id, changes)
        return _subscription_out(await subscription_or_404(tx, subscription_id), deps.box)


@routes.delete("/subscriptions/{subscription_id}", status_code=204)
async def delete_subscription(deps: Deps, subscription_id: str, _: ManagerKey) -> None:
    """Remove a subscription and its deliveries."""
    async with deps.unit.transaction() as tx:
        if not await repository.subscriptions.delete_subscription(tx, subscription_id):
            raise Problem(404, f"There is no subscription {subscription_id!r}.")


@routes.get(
    "/subscriptions/{subscription_id}/deliveries", response_model=list[SubscriptionDeliveryOut]
)
async def list_deliveries(
    deps: Deps,
    subscription_id: str,
    _: ManagerKey,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SubscriptionDeliveryOut]:
    """A subscription's deliveries, newest first; `status=dead` lists those given up."""
    async with deps.unit.read() as conn:
        await subscription_or_404(conn, subscription_id)
        found = await repository.deliveries.list_deliveries(conn, subscription_id, status, limit)
    return [SubscriptionDeliveryOut.of(d) for d in found]


@routes.post(
    "/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry",
    response_model=SubscriptionDeliveryOut,
)
async def retry_delivery(
    deps: Deps, subscription_id: str, delivery_id: str, _: ManagerKey
) -> SubscriptionDeliveryOut:
    """Try a dead (or pending) delivery again now, with a fresh retry window."""
    async with deps.unit.transaction() as tx:
        found = await repository.deliveries.get_delivery(tx, delivery_id)
        if found is None or found.subscription_id != subscription_id:
            raise Problem(404, f"There is no delivery {delivery_id!r} of that subscription.")
        if found.status == "delivered":
            raise Problem(409, f"Delivery {delivery_id!r} was delivered already.")
        now = tx.now()
        await repository.deliveries.update_delivery(
            tx,
            delivery_id,
            status="pending",
            next_attempt_at=now,
            expires_at=now + timedelta(hours=deps.router.settings.webhook_retry_hours),
        )
        again = await repository.deliveries.get_delivery(tx, delivery_id)
    assert again is not None
    return SubscriptionDeliveryOut.of(again)
