"""Erasures and the services' confirmations of them."""

from __future__ import annotations

from sqlalchemy import (
    func,
    or_,
    select,
    update,
)

from audit.models import (
    erasure_confirmations,
    erasures,
)
from audit.records import ConfirmationRow, ErasureRow
from audit.repository.common import insert_ignore
from services.db import Conn, Tx, connection_of


async def get_erasure(conn: Conn, lead_id: str) -> ErasureRow | None:
    row = (
        await connection_of(conn).execute(select(erasures).where(erasures.c.lead_id == lead_id))
    ).first()
    return ErasureRow(**row._mapping) if row is not None else None


async def find_erasure(conn: Conn, erasure_id: str) -> ErasureRow | None:
    """An erasure by its id (or, for erasures made before ids, by its lead id)."""
    row = (
        await connection_of(conn).execute(
            select(erasures).where(
                or_(erasures.c.id == erasure_id, erasures.c.lead_id == erasure_id)
            )
        )
    ).first()
    return ErasureRow(**row._mapping) if row is not None else None


async def put_erasure(
    tx: Tx, lead_id: str, requested_by: str, events_redacted: int, erasure_id: str
) -> None:
    if not await insert_ignore(
        tx,
        erasures,
        {
            "lead_id": lead_id,
            "requested_by": requested_by,
            "requested_at": tx.now(),
            "events_redacted": events_redacted,
            "id": erasure_id,
        },
    ):
        await tx.conn.execute(
            update(erasures)
            .where(erasures.c.lead_id == lead_id)
            .values(
                events_redacted=erasures.c.events_redacted + events_redacted,
                id=func.coalesce(erasures.c.id, erasure_id),
            )
        )


async def confirm_erasure(
    tx: Tx, lead_id: str, service: str, erasure_id: str, records: int
) -> None:
    """Record that `service` erased the lead (again: the latest confirmation wins)."""
    values = {"erasure_id": erasure_id, "records": records, "confirmed_at": tx.now()}
    if not await insert_ignore(
        tx, erasure_confirmations, {"lead_id": lead_id, "service": service, **values}
    ):
        await tx.conn.execute(
            update(erasure_confirmations)
            .where(
                erasure_confirmations.c.lead_id == lead_id,
                erasure_confirmations.c.service == service,
            )
            .values(**values)
        )


async def erasure_confirmations_of(conn: Conn, lead_id: str) -> list[ConfirmationRow]:
    rows = (
        await connection_of(conn).execute(
            select(
                erasure_confirmations.c.service,
                erasure_confirmations.c.erasure_id,
                erasure_confirmations.c.records,
                erasure_confirmations.c.confirmed_at,
            )
            .where(erasure_confirmations.c.lead_id == lead_id)
            .order_by(erasure_confirmations.c.service)
        )
    ).all()
    return [ConfirmationRow(**r._mapping) for r in rows]
