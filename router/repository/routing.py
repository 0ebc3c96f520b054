"""The routing state a decision reads and writes: the partition locks of its pools and
reps, the pools' cursors and per-rep counters, the reps' open leads and leads assigned
since their local midnight."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select, text

from router.models import (
    assignments,
    cursors,
    leads,
    pool_reps,
)
from router.records import OPEN_STATUSES, PoolRepState
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx
from services.statements import upsert


async def lock_partitions(tx: Tx, pools: Iterable[str], reps: Iterable[str]) -> None:
    """Until commit, this transaction is the only one deciding for these pools and reps:
    a decision reads its pool's counters and cursor and its candidates' loads and caps, so
    two decisions conflict exactly when they share a pool or a rep. Decisions for other
    pools and reps go on in parallel on other replicas. The locks are taken in one
    statement in a global order (no deadlock between two batches); SQLite's single writer
    already serialises everything."""
    if tx.unit.database.is_sqlite:
        return
    keys = sorted({f"pool:{p}" for p in pools} | {f"rep:{r}" for r in reps})
    if keys:
        await tx.conn.execute(_LOCK_PARTITIONS, {"keys": keys})


# pg_advisory_xact_lock is volatile, so PostgreSQL calls it after the ORDER BY.
_LOCK_PARTITIONS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 7411)) "
    "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
)


async def save_routing_state(
    tx: Tx, states: list[dict[str, Any]], cursor_rows: list[dict[str, Any]]
) -> None:
    """Store weighted counters and round-robin cursors (one upsert per table)."""
    dialect = tx.conn.dialect.name
    if states:
        columns = ("pool", "rep_id", "current", "assigned", "last_assigned_at")
        await tx.conn.execute(upsert(pool_reps, dialect, columns, ("pool", "rep_id")), states)
    if cursor_rows:
        statement = upsert(cursors, dialect, ("pool", "last_rep_id"), ("pool",))
        await tx.conn.execute(statement, cursor_rows)


_CURSOR = select(cursors.c.last_rep_id).where(cursors.c.pool == bindparam("pool"))


async def cursor_of(conn: Conn, pool: str) -> str | None:
    last: str | None = await _c(conn).scalar(_CURSOR, {"pool": pool})
    return last


_POOL_REPS = select(pool_reps).where(
    pool_reps.c.pool == bindparam("pool"),
    pool_reps.c.rep_id.in_(bindparam("rep_ids", expanding=True)),
)


async def pool_rep_states(conn: Conn, pool: str, rep_ids: Sequence[str]) -> dict[str, PoolRepState]:
    if not rep_ids:
        return {}
    rows = (await _c(conn).execute(_POOL_REPS, {"pool": pool, "rep_ids": list(rep_ids)})).all()
    return {r.rep_id: PoolRepState(r.current, r.assigned, r.last_assigned_at) for r in rows}


# Built once (routing reads these for every batch): building a statement costs more CPU than
# SQLite takes to run it.
_OPEN_COUNTS = (
    select(leads.c.rep_id, func.count())
    .where(
        leads.c.rep_id.in_(bindparam("rep_ids", expanding=True)),
        leads.c.status.in_(OPEN_STATUSES),
    )
    .group_by(leads.c.rep_id)
)


async def open_lead_counts(conn: Conn, rep_ids: Sequence[str]) -> dict[str, int]:
    """Open leads (assigned or accepted, not yet an opportunity) per rep."""
    if not rep_ids:
        return {}
    rows = await _c(conn).execute(_OPEN_COUNTS, {"rep_ids": list(rep_ids)})
    return {r[0]: int(r[1]) for r in rows}


@cache
def _assigned_since(reps: int) -> Select[Any]:
    """Assignments per rep since each rep's own moment, for `reps` reps (built once per
    number of reps: `rep_<i>` and `since_<i>` are the parameters)."""
    condition = or_(
        *(
            and_(
                assignments.c.rep_id == bindparam(f"rep_{i}"),
                assignments.c.assigned_at >= bindparam(f"since_{i}"),
            )
            for i in range(reps)
        )
    )
    return (
        select(assignments.c.rep_id, func.count()).where(condition).group_by(assignments.c.rep_id)
    )


async def assigned_since(conn: Conn, since_by_rep: dict[str, datetime]) -> dict[str, int]:
    """Assignments each rep got since their own moment (their local midnight)."""
    if not since_by_rep:
        return {}
    parameters: dict[str, Any] = {}
    for i, (rep_id, since) in enumerate(since_by_rep.items()):
        parameters[f"rep_{i}"] = rep_id
        parameters[f"since_{i}"] = since
    rows = await _c(conn).execute(_assigned_since(len(since_by_rep)), parameters)
    return {r[0]: int(r[1]) for r in rows}
