"""UTCDateTime on SQLite: the text it binds is SQLAlchemy's own, to the character. A JSON
document already encoded (EncodedJson) is stored as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import DATETIME

from services.clock import ManualClock
from services.db import Database, UnitOfWork
from services.sqltypes import EncodedJson, Json, UTCDateTime

DIALECT = sqlite.dialect()
FAST = UTCDateTime()._cached_bind_processor(DIALECT)
SQLALCHEMY = DATETIME().bind_processor(DIALECT)

MOMENTS = [
    datetime(2026, 12, 6, 4, 42, 17, 123456, tzinfo=UTC),
    datetime(2026, 12, 6, 4, 42, 17, tzinfo=UTC),  # no microseconds: still six digits
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),  # a year below 1000: still four digits
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 3, 29, 23, 30, tzinfo=timezone(timedelta(hours=-8))),
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_the_text_is_sqlalchemys_in_utc(moment: datetime) -> None:
    assert FAST is not None
    assert SQLALCHEMY is not None
    expected = SQLALCHEMY(moment.astimezone(UTC).replace(tzinfo=None))
    assert FAST(moment) == expected


def test_none_stays_none_and_naive_is_refused() -> None:
    assert FAST is not None
    assert FAST(None) is None
    with pytest.raises(ValueError, match="naive datetimes are not stored"):
        FAST(datetime(2026, 12, 6, 4, 42))


def test_a_round_trip_through_sqlite_returns_the_moment_in_utc() -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("at", UTCDateTime()))
    engine = sa.create_engine("sqlite://")
    table.create(engine)
    moment = datetime(2026, 3, 29, 2, 30, 0, 250, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"at": moment}])
        stored = conn.execute(sa.text("SELECT at FROM t")).scalar_one()
        read = conn.execute(sa.select(table.c.at)).scalar_one()
        later = conn.execute(
            sa.select(sa.func.count()).where(table.c.at < moment + timedelta(microseconds=1))
        ).scalar_one()
    assert stored == "2026-03-29 00:30:00.000250"
    assert read == moment
    assert read.tzinfo == UTC
    assert later == 1


def driver_statements(database: Database) -> list[str]:
    """The statements run from now on as driver SQL (announced without a cursor)."""
    seen: list[str] = []

    def note(_c: Any, cursor: Any, statement: str, *_: Any) -> None:
        if cursor is None:
            seen.append(statement)

    sa.event.listen(database.engine.sync_engine, "before_cursor_execute", note)
    return seen


DOCUMENT = {"id": "ev-1", "data": {"name": "Zoë", "score": 0.5, "tags": ["a", "b"]}}
DOCUMENT_TEXT = '{"id":"ev-1","data":{"name":"Zoë","score":0.5,"tags":["a","b"]}}'


async def test_an_encoded_document_is_stored_as_it_is_on_sqlite(tmp_path: Path) -> None:
    """Written through driver SQL (`Tx.write`) and through SQLAlchemy, the text stored is
    the text given, and reads back as the document (encoded again, it would read back as a
    string)."""
    database = Database(f"sqlite:///{tmp_path / 'json.db'}")
    documents = sa.Table(
        "documents",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("doc", Json),
    )
    try:
        documents.metadata.create_all(database.engine.sync_engine)
        unit = UnitOfWork(database, "audit", ManualClock(datetime(2026, 12, 6, tzinfo=UTC)), "t")
        written = driver_statements(database)
        async with unit.transaction() as tx:
            await tx.write(documents.insert(), [{"id": 1, "doc": EncodedJson(DOCUMENT_TEXT)}])
            await tx.conn.execute(documents.insert().values(id=2, doc=EncodedJson(DOCUMENT_TEXT)))
            await tx.write(documents.insert(), [{"id": 3, "doc": DOCUMENT}])
        assert written, "the first insert ran as driver SQL"
        async with unit.read() as conn:
            stored = (await conn.execute(sa.text("SELECT doc FROM documents ORDER BY id"))).all()
            read = (await conn.execute(sa.select(documents.c.doc).order_by(documents.c.id))).all()
        assert [r[0] for r in stored] == [DOCUMENT_TEXT] * 3
        assert [r[0] for r in read] == [DOCUMENT] * 3
    finally:
        await database.dispose()
