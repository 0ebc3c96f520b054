"""The inbox: which events a consumer has handled, recorded in the same transaction as the
handler's effects, so a redelivered event changes nothing."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from services.db import Tx
from services.tables import inbox


async def already_handled(tx: Tx, consumer: str, event_id: str) -> bool:
    found = await tx.conn.scalar(
        select(inbox.c.event_id).where(inbox.c.consumer == consumer, inbox.c.event_id == event_id)
    )
    return found is not None


async def record_handled(tx: Tx, consumer: str, event_id: str) -> None:
    await tx.conn.execute(
        inbox.insert().values(consumer=consumer, event_id=event_id, handled_at=tx.now())
    )


async def handled_among(tx: Tx, consumer: str, event_ids: Collection[str]) -> set[str]:
    """Which of `event_ids` this consumer has handled already (one query for a batch)."""
    if not event_ids:
        return set()
    rows = await tx.conn.scalars(
        select(inbox.c.event_id).where(
            inbox.c.consumer == consumer, inbox.c.event_id.in_(list(event_ids))
        )
    )
    return set(rows)


async def record_all_handled(tx: Tx, consumer: str, event_ids: Collection[str]) -> None:
    if event_ids:
        now = tx.now()
        await tx.conn.execute(
            inbox.insert(),
            [{"consumer": consumer, "event_id": e, "handled_at": now} for e in event_ids],
        )
