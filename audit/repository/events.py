"""The archive: every event once, each lead's timeline, the export, and redaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    func,
    or_,
    select,
    update,
)

from audit.models import (
    erasures,
    events,
)
from services import erasure
from services.db import Conn, ReadConn, Tx, connection_of


async def archive(tx: Tx, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Store a run of events, each once: one multi-row INSERT that skips the events stored
    before. Returns the ids of the events it stored."""
    return await tx.insert_new(events, rows, "event_id")


async def erased_among(tx: Tx, lead_ids: Collection[str]) -> set[str]:
    """Which of `lead_ids` were erased (one read)."""
    return await erasure.leads_among(tx, erasures, lead_ids)


async def timeline(conn: ReadConn, lead_id: str) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            select(events.c.envelope)
            .where(events.c.lead_id == lead_id)
            .order_by(events.c.time, events.c.position)
        )
    ).all()
    return [r.envelope for r in rows]


async def archived_events(
    conn: ReadConn,
    types: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[datetime, int, dict[str, Any]]]:
    """Archived events of these types whose time is in [since, until), not redacted, in
    time order (then archive order), after the keyset `after` (time, position)."""
    query = select(events.c.time, events.c.position, events.c.envelope).where(
        events.c.type.in_(list(types)),
        events.c.time >= since,
        events.c.time < until,
        events.c.redacted_at.is_(None),
    )
    if after is not None:
        at, position = after
        query = query.where(
            or_(events.c.time > at, and_(events.c.time == at, events.c.position > position))
        )
    rows = (await conn.execute(query.order_by(events.c.time, events.c.position).limit(limit))).all()
    return [(r.time, r.position, r.envelope) for r in rows]


async def count_archived_events(
    conn: ReadConn, types: Sequence[str], since: datetime, until: datetime
) -> int:
    query = select(func.count()).where(
        events.c.type.in_(list(types)),
        events.c.time >= since,
        events.c.time < until,
        events.c.redacted_at.is_(None),
    )
    return int((await conn.execute(query)).scalar_one())


async def envelopes_of(tx: Tx, lead_id: str) -> list[tuple[int, dict[str, Any]]]:
    rows = (
        await tx.conn.execute(
            select(events.c.position, events.c.envelope)
            .where(events.c.lead_id == lead_id)
            .order_by(events.c.position)
        )
    ).all()
    return [(r.position, r.envelope) for r in rows]


async def replace_envelope(tx: Tx, position: int, envelope: dict[str, Any]) -> None:
    await tx.conn.execute(
        update(events)
        .where(events.c.position == position)
        .values(envelope=envelope, redacted_at=tx.now())
    )


async def count_events(conn: Conn, lead_id: str | None = None) -> int:
    query = select(func.count()).select_from(events)
    if lead_id is not None:
        query = query.where(events.c.lead_id == lead_id)
    return int(await connection_of(conn).scalar(query) or 0)
