"""The chassis's hot statements run as driver SQL on PostgreSQL (services/pgdriver.py):
inside the transaction they belong to, with the values SQLAlchemy would bind, and a driver
error raised as SQLAlchemy raises it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.clock import ManualClock
from services.consumer import is_transient
from services.db import UnitOfWork
from services.inbox import claim
from services.sqltypes import EncodedJson, Json
from services.tables import inbox, timers
from tests import infra
from tests.scenarios.services import pg_unit

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)
INSERT_TIMER = timers.insert()
INSERT_HANDLED = inbox.insert()


@pytest.fixture
async def unit(pg_database: infra.ScratchDatabase) -> AsyncIterator[UnitOfWork]:
    async with pg_unit(pg_database.url, "router", ManualClock(AT), "pgdriver") as unit:
        yield unit


def driver_statements(unit: UnitOfWork) -> list[str]:
    """The statements `unit` runs from now on as driver SQL (announced without a cursor)."""
    seen: list[str] = []

    def note(_c: Any, cursor: Any, statement: str, *_: Any) -> None:
        if cursor is None:
            seen.append(" ".join(statement.split()))

    event.listen(unit.database.engine.sync_engine, "before_cursor_execute", note)
    return seen


def timer(key: str) -> dict[str, Any]:
    return {
        "service": "router",
        "kind": "first_touch",
        "key": key,
        "due_at": AT + timedelta(minutes=5),
        "payload": f'{{"lead_id": "{key}"}}',
        "attempts": 0,
        "created_at": AT,
    }


async def handled(unit: UnitOfWork) -> set[str]:
    async with unit.read() as conn:
        return set((await conn.scalars(select(inbox.c.event_id))).all())


async def test_a_claim_commits_with_its_transaction(unit: UnitOfWork) -> None:
    driven = driver_statements(unit)
    async with unit.transaction() as tx:
        assert await claim(tx, "router.test", ["ev-1", "ev-2"], ["lead-1"]) == {"ev-1", "ev-2"}
        # the claim opened the transaction: the same connection sees it before the commit
        assert await claim(tx, "router.test", ["ev-2", "ev-3"]) == {"ev-3"}
        # an id twice in one insert is stored once (a row of the same insert conflicts too)
        twice = [{"consumer": "router.test", "event_id": "ev-4", "handled_at": AT}] * 2
        assert await tx.insert_new(inbox, twice, "event_id") == {"ev-4"}
    assert await handled(unit) == {"ev-1", "ev-2", "ev-3", "ev-4"}
    assert len(driven) == 3, "the claims ran as driver SQL"
    assert driven[0].startswith("WITH claimed AS")
    assert driven[1].startswith("INSERT INTO inbox")


async def test_a_claim_is_undone_with_its_transaction(unit: UnitOfWork) -> None:
    driven = driver_statements(unit)

    async def fail_after_claiming() -> None:
        async with unit.transaction() as tx:
            await claim(tx, "router.test", ["ev-1"], ["lead-1"])
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await fail_after_claiming()
    assert driven, "the claim ran as driver SQL"
    assert await handled(unit) == set(), "run outside the transaction, it would have stayed"


async def test_deferred_rows_are_written_with_sqlalchemys_values(unit: UnitOfWork) -> None:
    driven = driver_statements(unit)
    async with unit.transaction() as tx:
        tx.defer(INSERT_TIMER, timer("lead-1"))
        tx.defer(INSERT_TIMER, timer("lead-2"))
    assert driven
    assert driven[-1].startswith("INSERT INTO timers")
    async with unit.read() as conn:
        rows = (await conn.execute(select(timers.c.key, timers.c.due_at))).all()
    assert sorted(rows) == [
        ("lead-1", AT + timedelta(minutes=5)),
        ("lead-2", AT + timedelta(minutes=5)),
    ]


async def test_a_naive_datetime_is_refused_as_through_sqlalchemy(unit: UnitOfWork) -> None:
    """The values go through SQLAlchemy's own converters (here UTCDateTime's check)."""
    row = {**timer("lead-1"), "due_at": datetime(2026, 12, 1, 9, 30)}
    with pytest.raises(Exception, match="naive datetimes are not stored"):
        async with unit.transaction() as tx:
            await tx.write(INSERT_TIMER, [row])


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(unit: UnitOfWork) -> None:
    driven = driver_statements(unit)
    twice = [{"consumer": "router.test", "event_id": "ev-1", "handled_at": AT}] * 2
    with pytest.raises(IntegrityError):
        async with unit.transaction() as tx:
            await tx.write(INSERT_HANDLED, twice)
    assert driven, "the write ran as driver SQL"
    async with unit.transaction() as tx:  # the pool's connection is usable again
        await tx.write(INSERT_HANDLED, twice[:1])
    assert await handled(unit) == {"ev-1"}


async def test_a_dropped_connection_is_a_transient_error(unit: UnitOfWork) -> None:
    async with unit.transaction() as tx:
        await claim(tx, "router.test", ["ev-1"])
    with pytest.raises(DBAPIError) as raised:
        async with unit.transaction() as tx:
            await tx.rows(text("SELECT pg_terminate_backend(pg_backend_pid())"), {})
    # as through SQLAlchemy: an invalidated connection, which the consumer runner retries
    assert raised.value.connection_invalidated
    assert is_transient(raised.value)
    async with unit.transaction() as tx:  # the pool hands out a fresh connection
        assert await claim(tx, "router.test", ["ev-3"]) == {"ev-3"}


async def test_a_read_is_what_sqlalchemy_reads(unit: UnitOfWork) -> None:
    """An `IN` list expanded as SQLAlchemy expands it, a datetime read as SQLAlchemy reads
    it (aware, UTC)."""
    query = (
        select(timers.c.key, timers.c.due_at)
        .where(timers.c.key.in_(bindparam("keys", expanding=True)))
        .order_by(timers.c.key)
    )
    driven = driver_statements(unit)
    async with unit.transaction() as tx:
        await tx.write(INSERT_TIMER, [timer("lead-1"), timer("lead-2"), timer("lead-3")])
        for keys in (["lead-1", "lead-3"], ["lead-2"], []):
            rows = await tx.rows(query, {"keys": keys})
            through_sqlalchemy = (await tx.conn.execute(query, {"keys": keys})).all()
            assert [(r["key"], r["due_at"]) for r in rows] == [tuple(r) for r in through_sqlalchemy]
    assert len(driven) == 4, "the insert and the three reads ran as driver SQL"
    assert rows == []
    assert (await tx_rows(unit, query, ["lead-1"]))[0]["due_at"].tzinfo is UTC


async def tx_rows(unit: UnitOfWork, query: Any, keys: list[str]) -> list[Any]:
    async with unit.transaction() as tx:
        return list(await tx.rows(query, {"keys": keys}))


DOCUMENT = {"id": "ev-1", "data": {"name": "Zoë", "score": 0.5, "tags": ["a", "b"]}}


async def test_an_encoded_document_is_stored_as_it_is(unit: UnitOfWork) -> None:
    """A JSON document already encoded (EncodedJson) goes into a JSONB column as the same
    document, through driver SQL and through SQLAlchemy (encoded again, it would be a JSON
    string)."""
    documents = Table(
        "pgdriver_documents",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("doc", Json),
    )
    text_of = EncodedJson('{"id":"ev-1","data":{"name":"Zoë","score":0.5,"tags":["a","b"]}}')
    async with unit.transaction() as tx:
        await tx.conn.run_sync(documents.metadata.create_all)
    try:
        driven = driver_statements(unit)
        async with unit.transaction() as tx:
            await tx.write(documents.insert(), [{"id": 1, "doc": text_of}])
            await tx.conn.execute(documents.insert().values(id=2, doc=text_of))
            await tx.write(documents.insert(), [{"id": 3, "doc": DOCUMENT}])
        assert len(driven) == 2, "the writes through Tx.write ran as driver SQL"
        async with unit.read() as conn:
            kinds = (
                await conn.scalars(text("SELECT jsonb_typeof(doc) FROM pgdriver_documents"))
            ).all()
            read = (await conn.scalars(select(documents.c.doc).order_by(documents.c.id))).all()
        assert kinds == ["object"] * 3
        assert read == [DOCUMENT] * 3
    finally:
        async with unit.transaction() as tx:
            await tx.conn.run_sync(documents.metadata.drop_all)


async def test_a_deadlock_is_a_transient_error(unit: UnitOfWork) -> None:
    """PostgreSQL breaks a deadlock by failing one of the transactions (SQLSTATE 40P01): the
    consumer runner retries it, as it does a serialization failure, never dead-letters it."""
    first_holds, second_holds = asyncio.Event(), asyncio.Event()
    lock = text("SELECT pg_advisory_xact_lock(:key)")

    async def take(mine: int, theirs: int, held: asyncio.Event, other: asyncio.Event) -> None:
        async with unit.transaction() as tx:
            await tx.conn.execute(lock, {"key": mine})
            held.set()
            await other.wait()
            await tx.rows(lock, {"key": theirs})

    results = await asyncio.gather(
        take(1, 2, first_holds, second_holds),
        take(2, 1, second_holds, first_holds),
        return_exceptions=True,
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1, results
    assert isinstance(failed[0], DBAPIError)
    assert getattr(failed[0].orig, "sqlstate", None) == "40P01"
    assert is_transient(failed[0])
