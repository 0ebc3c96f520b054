"""Webhook deliveries: queued per subscription, claimed under a lease when due, their
attempts recorded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, select, update

from router.models import deliveries, subscriptions
from router.records import DueDelivery, WebhookDelivery
from router.repository import Conn, record_of
from router.repository import connection_of as _c
from router.repository.subscriptions import SUBSCRIPTIONS_BY_ID, subscription_of
from services.db import Tx
from services.statements import oldest_due


async def insert_deliveries(tx: Tx, rows: list[dict[str, Any]]) -> None:
    """Queue webhook deliveries; written with the transaction's outbox rows at commit."""
    for row in rows:
        tx.defer(INSERT_DELIVERY, row)


INSERT_DELIVERY = deliveries.insert()
"""Deferred (`Tx.defer`): the rows the webhook worker may take at flush."""


async def any_due(conn: Conn, now: datetime) -> bool:
    return await _c(conn).scalar(_ANY_DUE, {"now": now}) is not None


async def claim_due(
    tx: Tx,
    now: datetime,
    lease_until: datetime,
    limit: int,
    *,
    per_subscription: int | None = None,
    in_flight: Mapping[str, int] | None = None,
) -> list[DueDelivery]:
    """Lease due deliveries (replicas skip each other's) by moving their next attempt on.
    With `per_subscription`, each subscription first gets up to that many counting those
    already `in_flight` (one that has its share is not even read); slots still free then
    go to whoever has more due, as long as `per_subscription` slots stay free for a
    subscription with none running. So a lone subscription gets the whole pool but that,
    and a slow one never holds up a newcomer."""
    in_flight = Counter(in_flight or {})
    due = _due(tx.conn.dialect.name)
    if per_subscription is None:
        rows = list(await tx.rows(due, {"now": now, "chosen": [], "limit": limit}))
    else:
        # The shares: each subscription's oldest due deliveries, up to what its share has
        # free, read per subscription (one with its share running is not read at all).
        shares = {
            s: per_subscription - in_flight[s]
            for s in (r["id"] for r in await tx.rows(_SUBSCRIPTION_IDS, {}))
            if in_flight[s] < per_subscription
        }
        rows = await oldest_due(tx, deliveries.c.subscription_id, _CHOSEN_BY, now, shares, limit)
        # Beyond the shares: fill the free slots but one share's worth (kept for newcomers).
        room = limit - per_subscription - len(rows)
        if room > 0:
            more = {"now": now, "chosen": [r["id"] for r in rows], "limit": room}
            rows += await tx.rows(due, more)
    if not rows:
        return []
    chosen = [r["id"] for r in rows]
    leased = {
        r["id"]: r for r in await tx.rows(_LEASE, {"ids": chosen, "lease_until": lease_until})
    }
    rows = [leased[i] for i in chosen if i in leased]
    subs = {
        s.id: s
        for s in (
            subscription_of(r)
            for r in await tx.rows(
                SUBSCRIPTIONS_BY_ID, {"ids": list({r["subscription_id"] for r in rows})}
            )
        )
    }
    orphans = [r["id"] for r in rows if r["subscription_id"] not in subs]
    if orphans:
        # Queued for a subscription deleted meanwhile (a routing transaction that read it
        # before the delete committed): removed, as deleting the subscription removes its
        # deliveries. Only leased, they came back every time the lease ran out, forever.
        await tx.conn.execute(_DELETE_DELIVERIES, {"ids": orphans})
    return [
        DueDelivery(
            id=r["id"],
            subscription_id=r["subscription_id"],
            url=subs[r["subscription_id"]].url,
            secret=subs[r["subscription_id"]].secret,
            event_id=r["event_id"],
            payload=r["payload"],
            attempts=r["attempts"],
            expires_at=r["expires_at"],
            traceparent=r["traceparent"],
        )
        for r in rows
        if r["subscription_id"] in subs
    ]


# Built once: the webhook worker claims on every commit that stored deliveries.
_ANY_DUE = (
    select(deliveries.c.id)
    .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= bindparam("now"))
    .limit(1)
)


_SUBSCRIPTION_IDS = select(subscriptions.c.id)
_CHOSEN_BY = ("id", "subscription_id")
"""Only what choosing needs: the payloads of those taken come back from the lease."""


@cache
def _due(dialect: str) -> Select[Any]:
    """Due deliveries, oldest first, but those `chosen` already; replicas skip each other's
    rows on PostgreSQL."""
    query = (
        select(deliveries.c.id, deliveries.c.subscription_id)
        .where(
            deliveries.c.status == "pending",
            deliveries.c.next_attempt_at <= bindparam("now"),
            deliveries.c.id.not_in(bindparam("chosen", expanding=True)),
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.created_at)
        .limit(bindparam("limit"))
    )
    return query if dialect == "sqlite" else query.with_for_update(skip_locked=True)


_LEASE = (
    update(deliveries)
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .values(next_attempt_at=bindparam("lease_until"))
    .returning(
        deliveries.c.id,
        deliveries.c.subscription_id,
        deliveries.c.event_id,
        deliveries.c.payload,
        deliveries.c.attempts,
        deliveries.c.expires_at,
        deliveries.c.traceparent,
    )
)
"""Lease the chosen deliveries and read what sending them needs, in one statement."""
_DELETE_DELIVERIES = delete(deliveries).where(deliveries.c.id.in_(bindparam("ids", expanding=True)))


async def update_delivery(tx: Tx, delivery_id: str, **values: Any) -> None:
    await tx.conn.execute(_UPDATE_DELIVERY, {**values, "_id": delivery_id})


# Built once (compiled once per set of columns).
_UPDATE_DELIVERY = update(deliveries).where(deliveries.c.id == bindparam("_id"))


def record_attempt(
    tx: Tx,
    delivery_id: str,
    *,
    status: str,
    attempts: int,
    attempted_at: datetime,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    """Record a delivery attempt's outcome (`status` pending again with `next_attempt_at`,
    delivered or dead). Deferred: the attempts that finish together (one group-commit
    round) are written with one statement at commit."""
    tx.defer(
        _RECORD_ATTEMPT,
        {
            "_id": delivery_id,
            "_status": status,
            "_attempts": attempts,
            "_attempted_at": attempted_at,
            "_status_code": status_code,
            "_error": error,
            "_next_attempt_at": next_attempt_at,
            "_delivered_at": attempted_at if status == "delivered" else None,
        },
    )


_RECORD_ATTEMPT = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("_id"))
    .values(
        status=bindparam("_status"),
        attempts=bindparam("_attempts"),
        last_attempt_at=bindparam("_attempted_at"),
        last_status_code=bindparam("_status_code"),
        last_error=bindparam("_error"),
        next_attempt_at=bindparam("_next_attempt_at"),
        delivered_at=bindparam("_delivered_at"),
    )
)


def _delivery(row: Any) -> WebhookDelivery:
    return record_of(WebhookDelivery, row)


async def get_delivery(conn: Conn, delivery_id: str) -> WebhookDelivery | None:
    row = (await _c(conn).execute(select(deliveries).where(deliveries.c.id == delivery_id))).first()
    return _delivery(row) if row else None


async def list_deliveries(
    conn: Conn, subscription_id: str, status: str | None, limit: int
) -> list[WebhookDelivery]:
    query = (
        select(deliveries)
        .where(deliveries.c.subscription_id == subscription_id)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id)
        .limit(limit)
    )
    if status:
        query = query.where(deliveries.c.status == status)
    return [_delivery(r) for r in (await _c(conn).execute(query)).all()]
