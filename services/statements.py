"""Statements built once and executed with parameters, for the hot write paths.

SQLAlchemy spends most of a small statement's CPU building it (coercing each column and
value, generating its cache key), not running it: a statement built once and executed
with a parameter dict costs well under half. These builders are cached per table, dialect
and column set, so a repository can write `await conn.execute(upsert(...), values)` on
every event without rebuilding the statement (docs/benchmarks.md has the measurement).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Column, Select, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


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
