"""Reps: their profiles, capacity, calendar and suspension."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select, update

from router.config import ROUTING
from router.models import (
    reps,
)
from router.records import RepRecord, parsed
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx
from services.reference import bump
from services.statements import insert_ignoring


def _rep(row: Any) -> RepRecord:
    data = dict(row._mapping)
    for who in ("changed_by", "suspended_by"):
        key_id, name = data.pop(who, None), data.pop(f"{who}_name", None)
        data[who] = {"key_id": key_id, "name": name} if key_id else None
    return parsed(RepRecord, data)


async def insert_rep(tx: Tx, values: dict[str, Any]) -> RepRecord | None:
    """The new rep, or None when a rep with its id exists (also one a concurrent request
    inserted after this one looked: the insert does nothing instead of failing)."""
    result = await tx.conn.execute(insert_ignoring(reps, tx.conn.dialect.name), values)
    if result.rowcount != 1:
        return None
    await bump(tx, ROUTING)
    rep = await get_rep(tx, values["id"])
    assert rep is not None
    return rep


async def update_rep(tx: Tx, rep_id: str, values: dict[str, Any]) -> None:
    await tx.conn.execute(update(reps).where(reps.c.id == rep_id).values(**values))
    await bump(tx, ROUTING)


async def get_rep(conn: Conn, rep_id: str) -> RepRecord | None:
    row = (await _c(conn).execute(select(reps).where(reps.c.id == rep_id))).first()
    return _rep(row) if row else None


async def rep_exists(conn: Conn, rep_id: str) -> bool:
    return await _c(conn).scalar(select(reps.c.id).where(reps.c.id == rep_id)) is not None


async def list_reps(conn: Conn) -> list[RepRecord]:
    rows = (await _c(conn).execute(select(reps).order_by(reps.c.id))).all()
    return [_rep(r) for r in rows]


async def reps_where(
    conn: Conn, *, ids: Sequence[str] = (), team_ids: Sequence[str] = ()
) -> list[RepRecord]:
    """Reps with one of `ids` or on one of `team_ids`; with neither given, every rep."""
    query = select(reps).order_by(reps.c.id)
    if ids or team_ids:
        query = query.where(or_(reps.c.id.in_(list(ids)), reps.c.team_id.in_(list(team_ids))))
    return [_rep(r) for r in (await _c(conn).execute(query)).all()]
