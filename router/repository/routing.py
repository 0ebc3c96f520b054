"""The routing state a decision reads and writes: the partition locks of its pools and
reps, the pools' cursors and per-rep counters, the reps' loads (open leads, and leads
assigned since their local midnight)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Integer,
    Select,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
)

from router import metrics
from router.models import (
    assignments,
    cursors,
    pool_reps,
    rep_loads,
)
from router.records import PoolRepState
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx, rows_of
from services.sqltypes import UTCDateTime
from services.statements import upsert


async def lock_partitions(tx: Tx, pools: Iterable[str], reps: Iterable[str]) -> None:
    """Until commit, this transaction is the only one deciding for these pools and reps:
    a decision reads its pool's counters and cursor and its candidates' loads and caps, so
    two decisions conflict exactly when they share a pool or a rep. Decisions for other
    pools and reps go on in parallel on other replicas. The locks are taken in one
    statement in a global order (no deadlock between two batches); SQLite's single writer
    already serialises everything. Once the transaction commits, the time it held each pool
    is observed in `leadfarm_router_partition_lock_seconds`."""
    if tx.unit.database.is_sqlite:
        return
    locked_pools = sorted(set(pools))
    keys = sorted({f"pool:{p}" for p in locked_pools} | {f"rep:{r}" for r in reps})
    if not keys:
        return
    await tx.rows(_LOCK_PARTITIONS, {"keys": keys})
    taken = time.perf_counter()

    def released() -> None:
        held = time.perf_counter() - taken
        for pool in locked_pools:
            metrics.PARTITION_LOCK_SECONDS.labels(pool).observe(held)

    tx.after_commit(released)


# pg_advisory_xact_lock is volatile, so PostgreSQL calls it after the ORDER BY.
_LOCK_PARTITIONS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 7411)) "
    "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
)


def save_routing_state(
    tx: Tx, states: list[dict[str, Any]], cursor_rows: list[dict[str, Any]]
) -> None:
    """Store weighted counters and round-robin cursors at the transaction's next flush
    (one upsert per table; each pool's rep and each pool once)."""
    dialect = tx.conn.dialect.name
    columns = ("pool", "rep_id", "current", "assigned", "last_assigned_at")
    save_states = upsert(pool_reps, dialect, columns, ("pool", "rep_id"))
    for row in states:
        tx.defer(save_states, row)
    save_cursors = upsert(cursors, dialect, ("pool", "last_rep_id"), ("pool",))
    for row in cursor_rows:
        tx.defer(save_cursors, row)


@dataclass(frozen=True)
class RepLoad:
    """A rep's stored load (`router_rep_loads`): open leads, and the assignments since
    `day_start` (the local midnight they were counted from; None: not counted yet)."""

    open_leads: int
    day_start: datetime | None
    assigned_that_day: int


@dataclass
class StateRead:
    """What `routing_state` read: the reps' stored loads, the pool's counters of the reps
    that have them, and its cursor."""

    loads: dict[str, RepLoad] = field(default_factory=dict)
    states: dict[str, PoolRepState] = field(default_factory=dict)
    cursor: str | None = None


def _no(type_: Any) -> Any:
    return cast(null(), type_)


@cache
def _state_read(loads: bool, states: bool, cursor: bool) -> CompoundSelect[Any]:
    """One UNION ALL of the reads `routing_state` needs, rows told apart by `kind`: the
    loads of `load_reps` (open leads as `n`, the day's assignments as `assigned`, their day
    as `at`), the counters of `state_reps` in `pool`, its cursor."""
    parts: list[Select[Any]] = []
    if loads:
        parts.append(
            select(
                literal_column("'load'").label("kind"),
                rep_loads.c.rep_id.label("rep_id"),
                rep_loads.c.open_leads.label("n"),
                _no(Integer).label("current"),
                rep_loads.c.assigned_that_day.label("assigned"),
                rep_loads.c.day_start.label("at"),
            ).where(rep_loads.c.rep_id.in_(bindparam("load_reps", expanding=True)))
        )
    if states:
        parts.append(
            select(
                literal_column("'state'"),
                pool_reps.c.rep_id,
                _no(Integer),
                pool_reps.c.current,
                pool_reps.c.assigned,
                pool_reps.c.last_assigned_at,
            ).where(
                pool_reps.c.pool == bindparam("pool"),
                pool_reps.c.rep_id.in_(bindparam("state_reps", expanding=True)),
            )
        )
    if cursor:
        parts.append(
            select(
                literal_column("'cursor'"),
                cursors.c.last_rep_id,
                _no(Integer),
                _no(Integer),
                _no(Integer),
                _no(UTCDateTime),
            ).where(cursors.c.pool == bindparam("pool"))
        )
    return union_all(*parts)


async def routing_state(
    conn: Conn, pool: str, load_reps: Sequence[str], state_reps: Sequence[str], *, cursor: bool
) -> StateRead:
    """In one statement: the stored loads of `load_reps`; the weighted counters of
    `state_reps` in `pool`; with `cursor`, the pool's round-robin cursor. Constant work per
    rep, however many leads they hold."""
    read = StateRead()
    if not (load_reps or state_reps or cursor):
        return read
    parameters: dict[str, Any] = {"pool": pool}
    if load_reps:
        parameters["load_reps"] = list(load_reps)
    if state_reps:
        parameters["state_reps"] = list(state_reps)
    statement = _state_read(bool(load_reps), bool(state_reps), cursor)
    for row in await rows_of(_c(conn), statement, parameters):
        kind, rep_id = row["kind"], row["rep_id"]
        if kind == "load":
            read.loads[rep_id] = RepLoad(int(row["n"]), row["at"], int(row["assigned"]))
        elif kind == "state":
            read.states[rep_id] = PoolRepState(row["current"], row["assigned"], row["at"])
        else:
            read.cursor = rep_id
    return read


@cache
def _assigned_since(reps: int) -> Select[Any]:
    since = or_(
        *(
            and_(
                assignments.c.rep_id == bindparam(f"rep_{i}"),
                assignments.c.assigned_at >= bindparam(f"since_{i}"),
            )
            for i in range(reps)
        )
    )
    return (
        select(assignments.c.rep_id, func.count().label("n"))
        .where(since)
        .group_by(assignments.c.rep_id)
    )


async def assigned_since(conn: Conn, since_by_rep: dict[str, datetime]) -> dict[str, int]:
    """How many assignments each rep got since their own moment (a count over their
    assignments: only where the stored day cannot answer, `router.state`)."""
    if not since_by_rep:
        return {}
    parameters: dict[str, Any] = {}
    for i, (rep_id, since) in enumerate(since_by_rep.items()):
        parameters[f"rep_{i}"] = rep_id
        parameters[f"since_{i}"] = since
    rows = await rows_of(_c(conn), _assigned_since(len(since_by_rep)), parameters)
    return {row["rep_id"]: int(row["n"]) for row in rows}


def save_rep_days(tx: Tx, rows: list[dict[str, Any]]) -> None:
    """Store reps' assignments of the day (`rep_id`, `day_start`, `assigned_that_day`) at
    the transaction's next flush; their open leads are the triggers' (router_0013)."""
    statement = upsert(
        rep_loads, tx.conn.dialect.name, ("rep_id", "day_start", "assigned_that_day"), ("rep_id",)
    )
    for row in rows:
        tx.defer(statement, row)
