"""The inbox: which events a consumer has handled, recorded in the same transaction as the
handler's effects, so a redelivered event changes nothing.

A consumer claims its events before handling them: one INSERT of all their ids that skips
the ids already there and returns the ones it recorded. The events returned are new; the
others were handled before. If handling fails the transaction rolls back, claims included.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache

from sqlalchemy.sql.dml import Insert

from services import driversql
from services.db import Tx
from services.statements import insert_ignoring
from services.tables import inbox


@cache
def _claim(dialect: str) -> Insert:
    # Built once per dialect: a statement built per call costs more CPU than the database
    # takes to run it.
    return insert_ignoring(inbox, dialect).returning(inbox.c.event_id)


async def claim(tx: Tx, consumer: str, event_ids: Collection[str]) -> set[str]:
    """Record `event_ids` as handled by `consumer` in `tx`; returns those not recorded
    before (the ones to handle). One statement for a batch."""
    if not event_ids:
        return set()
    raw = driversql.raw_connection(tx)
    if raw is not None:
        return driversql.claim(raw, tx, consumer, list(event_ids))
    now = tx.now()
    rows = await tx.conn.scalars(
        _claim(tx.conn.dialect.name),
        [{"consumer": consumer, "event_id": e, "handled_at": now} for e in event_ids],
    )
    return set(rows)


async def is_new(tx: Tx, consumer: str, event_id: str) -> bool:
    """Claim one event: True when `consumer` has not handled it before."""
    return bool(await claim(tx, consumer, [event_id]))
