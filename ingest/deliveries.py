"""Deliveries a manager reads (pending fetches, failed ones, rejected ones) and a failed
fetch tried again."""

from __future__ import annotations

import dataclasses

from ingest import repository
from ingest.records import Delivery
from services.db import ReadConn, Tx


async def list_deliveries(conn: ReadConn, status: str | None, limit: int) -> list[Delivery]:
    """Deliveries, newest first, of one status or all."""
    return await repository.list_deliveries(conn, status, limit)


async def retry(tx: Tx, delivery_id: str) -> Delivery | None:
    """Make a failed delivery pending again, to be fetched now; None if there is no failed
    delivery of that id."""
    rows = [
        d
        for d in await repository.list_deliveries(_read(tx), "failed", 10_000)
        if d.id == delivery_id
    ]
    if not rows:
        return None
    await repository.set_delivery(
        tx, delivery_id, status="pending", attempts=0, next_attempt_at=tx.now(), reason=None
    )
    return dataclasses.replace(rows[0], status="pending")


def _read(tx: Tx) -> ReadConn:
    return ReadConn(tx.conn)  # a write transaction may read
