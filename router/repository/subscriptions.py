"""Webhook subscriptions, with their sealed signing secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from router.config import ROUTING
from router.models import (
    deliveries,
    subscriptions,
)
from router.records import Subscription
from router.repository import Conn
from router.repository import connection_of as _c
from services.crypto import SecretBox
from services.db import Tx
from services.reference import bump
from services.statements import any_other_row


def subscription_of(values: Mapping[Any, Any]) -> Subscription:
    """A subscription from its row's values by column name (a SQLAlchemy row's `_mapping`,
    or a row `Tx.rows` read)."""
    return Subscription(**values)


async def insert_subscription(tx: Tx, values: dict[str, Any]) -> None:
    """`values["secret"]` is stored as given: the caller seals it (services/crypto.py)."""
    await tx.conn.execute(subscriptions.insert().values(**values))
    await bump(tx, ROUTING)


async def reseal_subscription_secrets(tx: Tx, box: SecretBox) -> int:
    """Seal, with the first key, every secret stored plain or under another key."""
    changed = 0
    for row in (await tx.conn.execute(select(subscriptions.c.id, subscriptions.c.secret))).all():
        resealed = box.resealed(row.secret)
        if resealed is not None:
            await tx.conn.execute(
                update(subscriptions).where(subscriptions.c.id == row.id).values(secret=resealed)
            )
            changed += 1
    return changed


async def get_subscription(conn: Conn, subscription_id: str) -> Subscription | None:
    row = (
        await _c(conn).execute(select(subscriptions).where(subscriptions.c.id == subscription_id))
    ).first()
    return subscription_of(row._mapping) if row else None


async def list_subscriptions(conn: Conn, *, active_only: bool = False) -> list[Subscription]:
    query = select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
    if active_only:
        query = query.where(subscriptions.c.active)
    return [subscription_of(r._mapping) for r in (await _c(conn).execute(query)).all()]


async def update_subscription(tx: Tx, subscription_id: str, values: dict[str, Any]) -> None:
    await tx.conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id)
        .values(updated_at=tx.now(), **values)
    )
    await bump(tx, ROUTING)


async def delete_subscription(tx: Tx, subscription_id: str) -> bool:
    await tx.conn.execute(delete(deliveries).where(deliveries.c.subscription_id == subscription_id))
    result = await tx.conn.execute(
        delete(subscriptions).where(subscriptions.c.id == subscription_id)
    )
    await bump(tx, ROUTING)
    return bool(result.rowcount)


SUBSCRIPTIONS_BY_ID = select(subscriptions).where(
    subscriptions.c.id.in_(bindparam("ids", expanding=True))
)


async def any_besides(conn: Conn, ids: list[str]) -> bool:
    """Whether a subscription other than `ids` exists (one row at most is read)."""
    return await _c(conn).scalar(any_other_row(subscriptions.c.id), {"ids": ids}) is not None
