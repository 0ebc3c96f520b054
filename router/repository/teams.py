"""Teams and their holidays."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from router.config import ROUTING
from router.models import (
    teams,
)
from router.records import TeamRecord, parsed
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx
from services.reference import bump


def _team(row: Any) -> TeamRecord:
    return parsed(TeamRecord, row._mapping)


async def get_team(conn: Conn, team_id: str) -> TeamRecord | None:
    row = (await _c(conn).execute(select(teams).where(teams.c.id == team_id))).first()
    return _team(row) if row else None


async def list_teams(conn: Conn) -> list[TeamRecord]:
    return [_team(r) for r in (await _c(conn).execute(select(teams).order_by(teams.c.id))).all()]


async def upsert_team(tx: Tx, team_id: str, team: dict[str, Any]) -> None:
    """Create or replace a team from its fields as JSON (name, country, subdivision,
    holidays, worked_holidays)."""
    now = tx.now()
    await bump(tx, ROUTING)
    values = {
        "name": team["name"],
        "country": team["country"],
        "subdivision": team["subdivision"],
        "holidays": team["holidays"],
        "worked_holidays": team["worked_holidays"],
        "updated_at": now,
    }
    if await get_team(tx, team_id) is None:
        await tx.conn.execute(teams.insert().values(id=team_id, created_at=now, **values))
    else:
        await tx.conn.execute(update(teams).where(teams.c.id == team_id).values(**values))


async def delete_team(tx: Tx, team_id: str) -> bool:
    result = await tx.conn.execute(delete(teams).where(teams.c.id == team_id))
    await bump(tx, ROUTING)
    return bool(result.rowcount)
