"""Opportunities opened and closed on a lead."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from router.models import (
    opportunities,
)
from router.records import Opportunity
from router.repository import Conn, record_of
from router.repository import connection_of as _c
from services.db import Tx


def _opportunity(row: Any) -> Opportunity:
    return record_of(Opportunity, row)


async def insert_opportunity(tx: Tx, opportunity: Opportunity) -> None:
    await tx.conn.execute(opportunities.insert().values(**asdict(opportunity)))


async def get_opportunity(conn: Conn, opportunity_id: str) -> Opportunity | None:
    row = (
        await _c(conn).execute(select(opportunities).where(opportunities.c.id == opportunity_id))
    ).first()
    return _opportunity(row) if row else None


async def opportunities_of(conn: Conn, lead_id: str) -> list[Opportunity]:
    rows = (
        await _c(conn).execute(
            select(opportunities)
            .where(opportunities.c.lead_id == lead_id)
            .order_by(opportunities.c.opened_at)
        )
    ).all()
    return [_opportunity(r) for r in rows]


async def close_opportunity(
    tx: Tx, opportunity_id: str, *, won: bool, amount: Decimal, reason: str | None
) -> None:
    await tx.conn.execute(
        update(opportunities)
        .where(opportunities.c.id == opportunity_id)
        .values(status="won" if won else "lost", amount=amount, reason=reason, closed_at=tx.now())
    )
