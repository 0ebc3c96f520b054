"""Closed deals, and the closed-won ones the forecast's average deal size comes from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    bindparam,
    func,
    select,
    update,
)

from audit.models import (
    deals,
)
from audit.repository.common import insert_ignore
from services.db import Conn, Tx, connection_of


async def put_deal(
    tx: Tx,
    *,
    opportunity_id: str,
    lead_id: str,
    rep_id: str | None,
    won: bool,
    amount_cents: int,
    currency: str,
    closed_at: datetime,
) -> None:
    values = {
        "lead_id": lead_id,
        "rep_id": rep_id,
        "won": won,
        "amount_cents": amount_cents,
        "currency": currency,
        "closed_at": closed_at,
    }
    if not await insert_ignore(tx, deals, {"opportunity_id": opportunity_id, **values}):
        await tx.conn.execute(
            update(deals).where(deals.c.opportunity_id == opportunity_id).values(**values)
        )


async def won_deals(conn: Conn, currency: str) -> tuple[int, int]:
    """(count, sum in cents) of closed-won deals in `currency`."""
    row = (await connection_of(conn).execute(_WON_DEALS, {"currency": currency})).one()
    return int(row[0]), int(row[1])


# Built once: the forecast reads it for every batch that puts leads on it.
_WON_DEALS = select(func.count(), func.coalesce(func.sum(deals.c.amount_cents), 0)).where(
    deals.c.won.is_(True), deals.c.currency == bindparam("currency")
)


async def won_amount(conn: Conn, lead_id: str, currency: str) -> int | None:
    """The amount (cents) of the lead's latest closed-won deal in `currency`, if any."""
    amount = await connection_of(conn).scalar(
        select(deals.c.amount_cents)
        .where(deals.c.lead_id == lead_id, deals.c.won.is_(True), deals.c.currency == currency)
        .order_by(deals.c.closed_at.desc())
        .limit(1)
    )
    return int(amount) if amount is not None else None
