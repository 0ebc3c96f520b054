"""The chassis's hottest statements as driver SQL on SQLite (services/driversql.py): the
same rows written and read as through SQLAlchemy, the same exceptions, the same statement
accounting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, event, literal, select, text, tuple_, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError

from services import driversql, sqlplan
from services.clock import ManualClock
from services.db import UnitOfWork, rows_of
from services.inbox import claim
from services.outbox import _APPEND
from services.tables import embedded_offsets, inbox, outbox, timers
from tests.scenarios.services import chassis_unit

AT = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def row(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "service": "ingest",
        "topic": "t.ingest",
        "key": "lead-1",
        "payload": '{"a": 1}',
        "headers": None,
        "created_at": AT,
        "published_at": AT,
    }


def driver_sql_statements(unit: UnitOfWork) -> list[str]:
    """The statements run as driver SQL on `unit`'s database from now on (announced to
    `before_cursor_execute` with no cursor)."""
    driven: list[str] = []

    def note(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if cursor is None:
            driven.append(statement)

    event.listen(unit.database.engine.sync_engine, "before_cursor_execute", note)
    return driven


async def stored(unit: UnitOfWork, sql: str) -> list[Any]:
    async with unit.read() as conn:
        return list((await conn.execute(text(sql))).all())


async def test_driver_sql_stores_exactly_what_sqlalchemy_stores(tmp_path: Path) -> None:
    async with chassis_unit(tmp_path, ManualClock(AT)) as unit:
        async with unit.transaction() as tx:
            assert driversql.raw_connection(tx) is not None
            assert driversql.write_rows(tx, _APPEND, [row("fast-1"), row("fast-2")])
            await tx.conn.execute(_APPEND, [row("slow-1")])
        rows = await stored(
            unit, "SELECT event_id, created_at, published_at, payload, headers FROM outbox"
        )
        assert {r[0] for r in rows} == {"fast-1", "fast-2", "slow-1"}
        assert len({tuple(r[1:]) for r in rows}) == 1, rows  # the same text, byte for byte
        async with unit.read() as conn:
            times = set((await conn.execute(select(outbox.c.created_at))).scalars())
        assert times == {AT}

        async with unit.transaction() as tx:
            assert await claim(tx, "c", ["e1", "e2"]) == {"e1", "e2"}
        async with unit.transaction() as tx:
            await tx.conn.execute(
                inbox.insert(), [{"consumer": "c", "event_id": "e3", "handled_at": AT}]
            )
            assert await claim(tx, "c", ["e2", "e3", "e4"]) == {"e4"}
        handled = await stored(unit, "SELECT DISTINCT handled_at FROM inbox")
        assert len(handled) == 1, "claimed and inserted rows store their time alike"


async def test_driver_errors_are_sqlalchemys_and_statements_are_counted(tmp_path: Path) -> None:
    async with chassis_unit(tmp_path, ManualClock(AT)) as unit:
        seen: list[str] = []

        def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            seen.append(statement)

        event.listen(unit.database.engine.sync_engine, "before_cursor_execute", note)
        async with unit.transaction() as tx:
            assert driversql.write_rows(tx, _APPEND, [row("same")])
            raw = driversql.raw_connection(tx)
            assert raw is not None
            driversql.move_position(raw, tx, "g", 42)
        assert any(s.startswith("INSERT INTO outbox") for s in seen)
        assert any(s.startswith("UPDATE embedded_offsets") for s in seen)
        async with unit.read() as conn:
            assert await conn.scalar(select(embedded_offsets.c.position)) == 42

        with pytest.raises(IntegrityError):  # SQLAlchemy's, as the runner and callers expect
            async with unit.transaction() as tx:
                driversql.write_rows(tx, _APPEND, [row("same")])


async def test_statements_it_cannot_run_exactly_go_through_sqlalchemy(tmp_path: Path) -> None:
    async with chassis_unit(tmp_path, ManualClock(AT)) as unit, unit.transaction() as tx:
        # Rows of different shapes, and an insert that returns, are left to SQLAlchemy.
        assert not driversql.write_rows(tx, _APPEND, [row("a"), {**row("b"), "x": 1}])
        returning = outbox.insert().returning(outbox.c.id)
        assert not driversql.write_rows(tx, returning, [row("c")])


def timer(key: str) -> dict[str, Any]:
    return {
        "service": "router",
        "kind": "first_touch",
        "key": key,
        "due_at": AT,
        "payload": f'{{"lead_id": "{key}"}}',
        "attempts": 0,
        "created_at": AT,
    }


async def test_a_read_is_what_sqlalchemy_reads(tmp_path: Path) -> None:
    """In a transaction, `Tx.rows` reads as driver SQL: an `IN` list expanded as SQLAlchemy
    expands it (a tuple list too), a datetime and a JSON column read as SQLAlchemy reads
    them. Outside a transaction the read is SQLAlchemy's, which begins one."""
    query = (
        select(timers.c.key, timers.c.due_at, timers.c.payload, literal("timer").label("kind"))
        .where(
            timers.c.key.in_(bindparam("keys", expanding=True))
            | tuple_(timers.c.kind, timers.c.key).in_(bindparam("pairs", expanding=True))
        )
        .order_by(timers.c.key)
    )
    async with chassis_unit(tmp_path, ManualClock(AT)) as unit:
        driven = driver_sql_statements(unit)
        async with unit.transaction() as tx:
            await tx.write(timers.insert(), [timer("lead-1"), timer("lead-2"), timer("lead-3")])
            # Shapes repeat with other values: an expansion is planned once per shape.
            cases: list[dict[str, Any]] = [
                {"keys": ["lead-1", "lead-3"], "pairs": []},
                {"keys": ["lead-2", "lead-3"], "pairs": []},
                {"keys": [], "pairs": [("first_touch", "lead-2")]},
                {"keys": [], "pairs": [("first_touch", "lead-3")]},
                {"keys": ["lead-1"], "pairs": [("first_touch", "lead-3")]},
                {"keys": ["lead-2"], "pairs": [("first_touch", "lead-1")]},
                {"keys": [], "pairs": []},
            ]
            for parameters in cases:
                before = len(driven)
                rows = await tx.rows(query, parameters)
                assert len(driven) == before + 1, "the read ran as driver SQL"
                through_sqlalchemy = (await tx.conn.execute(query, parameters)).all()
                assert [tuple(r.values()) for r in rows] == [tuple(r) for r in through_sqlalchemy]
        assert rows == []
        async with unit.transaction() as tx:
            first = (await tx.rows(query, {"keys": ["lead-1"], "pairs": []}))[0]
        assert first["due_at"] == AT
        assert first["due_at"].tzinfo is UTC
        assert first["kind"] == "timer"

        async with unit.read() as conn:
            before = len(driven)
            assert [
                r["key"] for r in await rows_of(conn, query, {"keys": ["lead-2"], "pairs": []})
            ] == ["lead-2"]
            assert len(driven) == before, "no transaction yet: SQLAlchemy's read, which begins one"


async def test_a_value_beside_an_in_list_is_bound_as_sqlalchemy_binds_it(tmp_path: Path) -> None:
    """A statement with an `IN` list converts its other values too: a datetime compared or
    stored next to one is SQLAlchemy's UTC text, whatever its offset (the expanded plan
    used to pass it to the driver as it was)."""
    due = (
        select(timers.c.key)
        .where(timers.c.key.in_(bindparam("keys", expanding=True)))
        .where(timers.c.due_at <= bindparam("now"))
    )
    move = (
        update(timers)
        .where(timers.c.key.in_(bindparam("keys", expanding=True)))
        .values(due_at=bindparam("at"))
    )
    elsewhere = timezone(timedelta(hours=2))
    async with chassis_unit(tmp_path, ManualClock(AT)) as unit:
        driven = driver_sql_statements(unit)
        async with unit.transaction() as tx:
            await tx.write(timers.insert(), [timer("lead-1"), timer("lead-2")])
            keys = ["lead-1", "lead-2"]
            before = len(driven)
            an_hour_before = (AT - timedelta(hours=1)).astimezone(elsewhere)
            assert await tx.rows(due, {"keys": keys, "now": an_hour_before}) == []
            assert [r["key"] for r in await tx.rows(due, {"keys": keys, "now": AT})] == keys
            later = (AT + timedelta(minutes=5)).astimezone(elsewhere)
            await tx.rows(move, {"keys": ["lead-1"], "at": later})
            assert len(driven) == before + 3, "all three ran as driver SQL"
            await tx.conn.execute(move, {"keys": ["lead-2"], "at": later})
        assert await stored(unit, "SELECT DISTINCT due_at FROM timers") == [
            ("2026-03-01 12:35:15.123456",)
        ]


async def test_a_datetime_reaching_sqlite3_as_it_is_is_stored_as_sqlalchemy_stores_it(
    tmp_path: Path,
) -> None:
    """The net under the converters: a datetime handed to sqlite3 itself becomes the UTC
    text every stored time has, not sqlite3's own format with its offset."""
    elsewhere = timezone(timedelta(hours=2))
    async with chassis_unit(tmp_path, ManualClock(AT)) as unit, unit.transaction() as tx:
        raw = driversql.raw_connection(tx)
        assert raw is not None
        (stored_text,) = raw.execute("SELECT ?", (AT.astimezone(elsewhere),)).fetchone()
        assert stored_text == "2026-03-01 12:30:15.123456"
        with pytest.raises(ValueError, match="naive"):
            raw.execute("SELECT ?", (AT.replace(tzinfo=None),))


def test_a_rows_values_are_bound_in_order_with_values_fixed_in_the_statement_or_not() -> None:
    dialect = sqlite.dialect()
    every = sqlplan.compiled(outbox.insert(), tuple(row("x")), dialect)
    assert every is not None
    assert not every.fixed
    values = every.values(row("e-1"))
    assert values[every.keys.index("created_at")] == "2026-03-01 12:30:15.123456"
    assert values[every.keys.index("event_id")] == "e-1"
    with pytest.raises(KeyError):  # a value the row lacks and the statement does not fix
        every.values({k: v for k, v in row("e-2").items() if k != "topic"})
    fixed = update(outbox).where(outbox.c.service == "ingest").values(published_at=AT)
    some = sqlplan.compiled(
        fixed.where(outbox.c.event_id == bindparam("b_event_id")), ("b_event_id",), dialect
    )
    assert some is not None
    assert some.fixed
    assert some.values({"b_event_id": "e-3"}) == ["2026-03-01 12:30:15.123456", "ingest", "e-3"]
