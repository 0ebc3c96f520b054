"""Statements built once and executed with parameters, for the hot write paths.

SQLAlchemy spends most of a small statement's CPU building it (coercing each column and
value, generating its cache key), not running it: a statement built once and executed
with a parameter dict costs well under half. These builders are cached per table, dialect
and column set, so a repository can write `await conn.execute(upsert(...), values)` on
every event without rebuilding the statement (docs/benchmarks.md has the measurement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, CompoundSelect, Select, Table, bindparam, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

if TYPE_CHECKING:
    from services.db import Row, Tx


def _insert(table: Table, dialect: str) -> postgresql.Insert | sqlite.Insert:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


@cache
def insert_ignoring(table: Table, dialect: str) -> Insert:
    """INSERT that does nothing when the primary or a unique key exists (rowcount 0)."""
    return _insert(table, dialect).on_conflict_do_nothing()


@cache
def any_other_row(key: Column[Any]) -> Select[Any]:
    """Whether a row whose `key` is none of the `ids` parameter exists: at most one row
    is read (the webhook and connector workers ask it of their subscriptions and
    connectors before a claim)."""
    return select(key).where(key.not_in(bindparam("ids", expanding=True))).limit(1)


QUEUE_BRANCHES = 100
"""Queues one `oldest_due_per_queue` statement reads at most; more are read in chunks (a
round trip each; SQLite takes at most 500 terms in a compound SELECT)."""


@cache
def oldest_due_per_queue(
    key: Column[Any], columns: tuple[str, ...], queues: int, skip_locked: bool
) -> CompoundSelect[Any]:
    """Up to `n<i>` pending rows of each queue `q<i>` (the rows whose `key` is it) that are
    due by `now`, oldest first within each: one index seek per queue, on (status, key,
    next_attempt_at, created_at). What it reads grows with the queues asked for and what
    they may take, never with the backlog of a queue not asked for (the webhook and
    connector claims leave out the subscriptions and connectors whose share is running:
    read past in due order, a slow receiver's backlog was walked by every claim). With
    `skip_locked` (PostgreSQL, replicas) rows another claim holds are skipped."""
    table = key.table
    assert isinstance(table, Table)
    branches = []
    for i in range(queues):
        branch = (
            select(*(table.c[c] for c in columns))
            .where(
                table.c.status == "pending",
                key == bindparam(f"q{i}"),
                table.c.next_attempt_at <= bindparam("now"),
            )
            .order_by(table.c.next_attempt_at, table.c.created_at)
            .limit(bindparam(f"n{i}"))
        )
        if skip_locked:
            branch = branch.with_for_update(skip_locked=True)
        # A branch with its own ORDER BY and LIMIT is a subquery (SQLite wants it so).
        branches.append(select(branch.subquery(f"queue{i}")))
    return union_all(*branches)


async def oldest_due(
    tx: Tx,
    key: Column[Any],
    columns: tuple[str, ...],
    now: datetime,
    takes: Mapping[str, int],
    limit: int,
) -> list[Row]:
    """The `limit` oldest pending rows due by `now` of the queues in `takes`, each queue
    giving at most what `takes` says (`oldest_due_per_queue`, in chunks of QUEUE_BRANCHES
    queues); oldest first. `columns` are read, with the due time and creation time."""
    columns = tuple(dict.fromkeys((*columns, "next_attempt_at", "created_at")))
    skip_locked = tx.conn.dialect.name == "postgresql"
    asked = [(queue, n) for queue, n in takes.items() if n > 0]
    rows: list[Row] = []
    for start in range(0, len(asked), QUEUE_BRANCHES):
        chunk: Sequence[tuple[str, int]] = asked[start : start + QUEUE_BRANCHES]
        statement = oldest_due_per_queue(key, columns, len(chunk), skip_locked)
        parameters: dict[str, Any] = {"now": now}
        for i, (queue, n) in enumerate(chunk):
            parameters[f"q{i}"] = queue
            parameters[f"n{i}"] = n
        rows += await tx.rows(statement, parameters)
    return sorted(rows, key=lambda r: (r["next_attempt_at"], r["created_at"]))[:limit]


@cache
def upsert(
    table: Table,
    dialect: str,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    increment: tuple[str, ...] = (),
) -> Insert:
    """INSERT of `columns`, or on a conflict on `keys` an UPDATE of the row with the same
    keys: `increment` columns are added to, the other non-key columns replaced."""
    statement = _insert(table, dialect)
    changes = {
        column: table.c[column] + statement.excluded[column]
        if column in increment
        else statement.excluded[column]
        for column in columns
        if column not in keys
    }
    return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)
