"""A transaction's deferred rows for several tables in one PostgreSQL statement.

At the rates a lead arrives one at a time, a consumer's batch holds one or two events and
each of its transactions paid one round trip per table it wrote (outbox, timers,
assignments, leads, deliveries...): a round trip costs the client more CPU (SQLAlchemy,
asyncpg, the event loop) than PostgreSQL takes to insert a row. `Tx.flush` on PostgreSQL
writes its deferred inserts together instead: each table's rows become one
`INSERT .. SELECT unnest(..)` (one array parameter per column), and the inserts travel as
data-modifying CTEs of one statement:

    WITH w0 AS (INSERT INTO outbox (..) SELECT unnest($1::VARCHAR[]), ..),
         w1 AS (INSERT INTO timers (..) SELECT unnest($9::VARCHAR[]), ..)
    SELECT 1

What is written is exactly what one executemany per table writes, so only inserts that
behave the same way are combined (`combinable`): no RETURNING, no default computed in
Python (it would be bound once for all rows), every row with the same keys and each key a
column (no parameter of the statement's own, such as one in an upsert's WHERE), an upsert
that updates on a conflict only when no two rows share its conflict key (one statement
cannot update a row twice; executemany updates it twice, the second row winning). The
sub-statements of one statement do not see each other's rows, so a group holds each table
once; a table seen again starts the next statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeGuard

from sqlalchemy import Executable, Select, Table, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.dml import OnConflictDoUpdate
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

Rows = Sequence[dict[str, Any]]


@cache
def _conflict_keys(
    statement: Insert, keys: tuple[str, ...], dialect: Dialect
) -> tuple[str, ...] | None:
    """The row keys an upsert's conflict target is made of (() for a plain insert or one that
    does nothing on a conflict); None when the statement cannot be combined at all."""
    if statement._returning or not all(key in statement.table.c for key in keys):
        return None  # a parameter that is not a column (in a WHERE or SET of the upsert)
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if compiled.insert_prefetch or set(compiled.positiontup or ()) != set(keys):
        return None
    clause = getattr(statement, "_post_values_clause", None)
    if not isinstance(clause, OnConflictDoUpdate):
        return ()
    target = clause.inferred_target_elements
    if not target:  # a named constraint: its columns are not known here
        return None
    names = tuple(getattr(element, "key", element) for element in target)
    if not all(isinstance(name, str) and name in keys for name in names):
        return None
    return tuple(str(name) for name in names)


def combinable(statement: Executable, rows: Rows, dialect: Dialect) -> TypeGuard[Insert]:
    """Whether `rows` inserted with `statement` in a combined statement are written exactly
    as one executemany of `statement` writes them."""
    if not rows or not isinstance(statement, Insert):
        return False
    keys = tuple(rows[0])
    if any(tuple(row) != keys for row in rows):
        return False
    conflict = _conflict_keys(statement, keys, dialect)
    if conflict is None:
        return False
    if conflict:
        seen = {tuple(row[k] for k in conflict) for row in rows}
        if len(seen) != len(rows):
            return False
    return True


@cache
def _combined(parts: tuple[tuple[Insert, tuple[str, ...]], ...]) -> Select[Any]:
    """The statement writing `parts` (statement, row keys) together; the parameter of
    part i's column j is `w<i>_<j>` (an array of the column's values)."""
    ctes = []
    for i, (statement, keys) in enumerate(parts):
        table = statement.table
        columns = [
            func.unnest(bindparam(f"w{i}_{j}", type_=ARRAY(table.c[key].type, dimensions=1)))
            for j, key in enumerate(keys)
        ]
        ctes.append(statement.from_select(list(keys), select(*columns)).cte(f"w{i}"))
    return select(literal_column("1")).add_cte(*ctes)


def together(writes: Sequence[tuple[Insert, Rows]]) -> tuple[Select[Any], dict[str, Any]]:
    """One statement and its parameters writing each (statement, rows) of `writes`, all
    `combinable`, each on a table of its own."""
    parts = tuple((statement, tuple(rows[0])) for statement, rows in writes)
    parameters: dict[str, Any] = {}
    for i, (_, rows) in enumerate(writes):
        for j, key in enumerate(rows[0]):
            parameters[f"w{i}_{j}"] = [row[key] for row in rows]
    return _combined(parts), parameters


@cache
def _insert_new(table: Table, keys: tuple[str, ...], key: str) -> Insert:
    unnested = select(
        *(
            func.unnest(bindparam(f"c{j}", type_=ARRAY(table.c[k].type, dimensions=1)))
            for j, k in enumerate(keys)
        )
    )
    return (
        pg_insert(table)
        .from_select(list(keys), unnested)
        .on_conflict_do_nothing()
        .returning(table.c[key])
    )


def insert_new(table: Table, rows: Rows, key: str) -> tuple[Insert, dict[str, Any]]:
    """One statement and its parameters inserting `rows` (all with the same keys) into
    `table`, skipping a row whose primary or unique key is stored already (an earlier row
    of `rows` included), returning the `key` of each row it stored: one array parameter per
    column, so it is one prepared statement whatever the number of rows."""
    keys = tuple(rows[0])
    parameters = {f"c{j}": [row[k] for row in rows] for j, k in enumerate(keys)}
    return _insert_new(table, keys, key), parameters
