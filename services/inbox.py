"""The inbox: which events a consumer has handled, recorded in the same transaction as the
handler's effects, so a redelivered event changes nothing."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import bindparam, select

from services.db import Tx
from services.tables import inbox

# Built once: a statement built per call costs more CPU than SQLite takes to run it.
_FIND = select(inbox.c.event_id).where(
    inbox.c.consumer == bindparam("consumer"),
    inbox.c.event_id.in_(bindparam("event_ids", expanding=True)),
)
_RECORD = inbox.insert()


async def already_handled(tx: Tx, consumer: str, event_id: str) -> bool:
    return bool(await handled_among(tx, consumer, [event_id]))


async def record_handled(tx: Tx, consumer: str, event_id: str) -> None:
    await record_all_handled(tx, consumer, [event_id])


async def handled_among(tx: Tx, consumer: str, event_ids: Collection[str]) -> set[str]:
    """Which of `event_ids` this consumer has handled already (one query for a batch)."""
    if not event_ids:
        return set()
    rows = await tx.conn.scalars(_FIND, {"consumer": consumer, "event_ids": list(event_ids)})
    return set(rows)


async def record_all_handled(tx: Tx, consumer: str, event_ids: Collection[str]) -> None:
    if event_ids:
        now = tx.now()
        await tx.conn.execute(
            _RECORD,
            [{"consumer": consumer, "event_id": e, "handled_at": now} for e in event_ids],
        )
