"""Which deferred inserts PostgreSQL writes together (services/pgwrite.py): only those one
statement writes exactly as an executemany of each would. The writes themselves are
tested on PostgreSQL in tests/integration/test_combined_writes.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from router.models import pool_reps
from services import pgwrite
from services.statements import insert_ignoring, upsert
from services.tables import inbox, timers

DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
AT = datetime(2026, 12, 1, tzinfo=UTC)
STATE_COLUMNS = ("pool", "rep_id", "current", "assigned", "last_assigned_at")
UPSERT_STATES = upsert(pool_reps, "postgresql", STATE_COLUMNS, ("pool", "rep_id"))
INSERT_TIMER = timers.insert()


def state(rep: str) -> dict[str, Any]:
    return {"pool": "p", "rep_id": rep, "current": 1, "assigned": 1, "last_assigned_at": AT}


def timer(key: str, **extra: Any) -> dict[str, Any]:
    row = {"service": "s", "kind": "k", "key": key, "due_at": AT, "created_at": AT}
    row.update({"payload": "{}", "attempts": 0})
    return row | extra


def test_plain_inserts_skipping_inserts_and_upserts_on_distinct_keys_combine() -> None:
    assert pgwrite.combinable(INSERT_TIMER, [timer("a"), timer("b")], DIALECT)
    claims = [{"consumer": "c", "event_id": e, "handled_at": AT} for e in ("e1", "e1")]
    assert pgwrite.combinable(insert_ignoring(inbox, "postgresql"), claims, DIALECT)
    assert pgwrite.combinable(UPSERT_STATES, [state("r1"), state("r2")], DIALECT)


def test_what_one_statement_would_write_differently_is_left_alone() -> None:
    # the same row updated twice by one upsert
    assert not pgwrite.combinable(UPSERT_STATES, [state("r1"), state("r1")], DIALECT)
    # rows of different shapes
    assert not pgwrite.combinable(INSERT_TIMER, [timer("a"), timer("b", last_error="x")], DIALECT)
    # a default computed in Python (bound once for every row): timers' payload and attempts
    bare = {"service": "s", "kind": "k", "key": "a", "due_at": AT, "created_at": AT}
    assert not pgwrite.combinable(INSERT_TIMER, [bare], DIALECT)
    # RETURNING
    assert not pgwrite.combinable(INSERT_TIMER.returning(timers.c.id), [timer("a")], DIALECT)
    # a parameter of the statement's own, not a column
    statement = pg_insert(pool_reps).on_conflict_do_update(
        index_elements=["pool", "rep_id"],
        set_={"current": bindparam("floor")},
    )
    assert not pgwrite.combinable(statement, [state("r1") | {"floor": 0}], DIALECT)
    # not an insert, or nothing to write
    assert not pgwrite.combinable(timers.delete(), [timer("a")], DIALECT)
    assert not pgwrite.combinable(INSERT_TIMER, [], DIALECT)


def test_the_combined_statement_has_one_array_parameter_per_column() -> None:
    statement, parameters = pgwrite.together(
        [(INSERT_TIMER, [timer("a"), timer("b")]), (UPSERT_STATES, [state("r1")])]
    )
    sql = str(statement.compile(dialect=DIALECT))
    assert sql.startswith("WITH w0 AS \n(INSERT INTO timers")
    assert "w1 AS \n(INSERT INTO router_pool_reps" in sql
    assert "ON CONFLICT (pool, rep_id) DO UPDATE" in sql
    assert parameters["w0_2"] == ["a", "b"]
    assert parameters["w1_1"] == ["r1"]
    assert len(parameters) == len(timer("a")) + len(state("r1"))
