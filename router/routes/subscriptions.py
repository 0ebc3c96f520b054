"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from router.records import DeliveryStatus, Subscription
from router.routes.deps import Deps
from router.schemas.subscriptions import (
    SubscriptionCreated,
    SubscriptionDeliveryOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from services.auth import ManagerKey
from services.crypto import SecretBox
from services.errors import Invalid


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


@routes.post("/subscriptions", status_code=201, response_model=SubscriptionCreated)
async def create_subscription(
    deps: Deps, body: SubscriptionIn, _: ManagerKey
) -> SubscriptionCreated:
    """Subscribe a tool (a CRM, a dialer, a chat channel) to router events. Deliveries
    are signed as Standard Webhooks says; the secret is shown once, here. The URL must
    reach a public address unless LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS is set."""
    await deps.subscriptions.refuse_private(body.url)
    async with deps.unit.transaction() as tx:
        stored, secret = await deps.subscriptions.add(
            tx,
            url=body.url,
            events=body.events,
            rep_id=body.rep_id,
            description=body.description,
            active=body.active,
        )
    return SubscriptionCreated(**_subscription_out(stored, deps.box).model_dump(), secret=secret)


@routes.get("/subscriptions", response_model=list[SubscriptionOut])
async def list_subscriptions(deps: Deps, _: ManagerKey) -> list[SubscriptionOut]:
    async with deps.unit.read() as conn:
        return [_subscription_out(s, deps.box) for s in await deps.subscriptions.all(conn)]


@routes.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
async def get_subscription(deps: Deps, subscription_id: str, _: ManagerKey) -> SubscriptionOut:
    async with deps.unit.read() as conn:
        return _subscription_out(await deps.subscriptions.get(conn, subscription_id), deps.box)


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
        await deps.subscriptions.refuse_private(changes["url"])
    async with deps.unit.transaction() as tx:
        changed = await deps.subscriptions.change(tx, subscription_id, changes)
        return _subscription_out(changed, deps.box)


@routes.delete("/subscriptions/{subscription_id}", status_code=204)
async def delete_subscription(deps: Deps, subscription_id: str, _: ManagerKey) -> None:
    """Remove a subscription and its deliveries."""
    async with deps.unit.transaction() as tx:
        await deps.subscriptions.delete(tx, subscription_id)


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
        found = await deps.subscriptions.deliveries(conn, subscription_id, status, limit)
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
        again = await deps.subscriptions.retry(tx, subscription_id, delivery_id)
    return SubscriptionDeliveryOut.of(again)
