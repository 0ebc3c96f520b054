"""Enrolments: a lead on a track, its step and next touch."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import bindparam, func, select, update

from nurture.models import enrolments
from nurture.records import Enrolment
from services.db import Conn, Tx, connection_of


def _enrolment(row: Any) -> Enrolment:
    return Enrolment(**{c.name: getattr(row, c.name) for c in enrolments.columns})


async def get_enrolment(conn: Conn, enrolment_id: str) -> Enrolment | None:
    row = (
        await connection_of(conn).execute(select(enrolments).where(enrolments.c.id == enrolment_id))
    ).first()
    return _enrolment(row) if row else None


async def active_enrolment(conn: Conn, lead_id: str) -> Enrolment | None:
    query = select(enrolments).where(
        enrolments.c.lead_id == lead_id, enrolments.c.status == "active"
    )
    row = (await connection_of(conn).execute(query)).first()
    return _enrolment(row) if row else None


async def active_enrolments(conn: Conn, lead_ids: Collection[str]) -> list[Enrolment]:
    """The active enrolments of these leads (one read for a batch)."""
    rows = await connection_of(conn).execute(_ACTIVE_OF, {"lead_ids": sorted(set(lead_ids))})
    return [_enrolment(row) for row in rows]


_ACTIVE_OF = select(enrolments).where(
    enrolments.c.lead_id.in_(bindparam("lead_ids", expanding=True)),
    enrolments.c.status == "active",
)


async def latest_enrolment(conn: Conn, lead_id: str) -> Enrolment | None:
    query = (
        select(enrolments)
        .where(enrolments.c.lead_id == lead_id)
        .order_by(enrolments.c.enrolled_at.desc(), enrolments.c.id.desc())
        .limit(1)
    )
    row = (await connection_of(conn).execute(query)).first()
    return _enrolment(row) if row else None


async def insert_enrolment(tx: Tx, **values: Any) -> None:
    await tx.conn.execute(enrolments.insert().values(**values))


async def update_enrolment(tx: Tx, enrolment_id: str, **values: Any) -> None:
    await tx.conn.execute(update(enrolments).where(enrolments.c.id == enrolment_id).values(values))


async def count_active_on(conn: Conn, track: str) -> int:
    query = select(func.count()).where(enrolments.c.track == track, enrolments.c.status == "active")
    return int(await connection_of(conn).scalar(query) or 0)
