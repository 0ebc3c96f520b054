"""A JSON document already encoded (EncodedJson) is stored as it is (on PostgreSQL:
tests/integration/test_pgdriver.py); a datetime is stored on SQLite as the text SQLAlchemy's
own DATETIME stores."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from services.clock import ManualClock
from services.db import Database, UnitOfWork
from services.sqltypes import EncodedJson, Json, UTCDateTime


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


def test_a_datetime_is_bound_on_sqlite_as_sqlalchemy_formats_it() -> None:
    """The same text as SQLAlchemy's conversion (to UTC) and SQLite DATETIME format: rows
    stored before are compared with rows stored now as text, so one character of
    difference (a missing `.000000`, an offset) would misorder them."""
    ours = UTCDateTime().bind_processor(sqlite.dialect())
    dialect = sqlite.dialect()
    to_utc = UTCDateTime().process_bind_param
    formats = sa.DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None
    assert formats is not None
    zones = [UTC, timezone(timedelta(hours=5, minutes=45)), timezone(timedelta(hours=-9))]
    rng = random.Random(12)
    moments = [
        datetime(2026, 12, 6, 8, 0, tzinfo=UTC),  # no microseconds
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # a short year
        *(
            datetime(1970, 1, 2, tzinfo=UTC)
            + timedelta(seconds=rng.uniform(0, 4e9), microseconds=rng.choice([0, 1, 999999]))
            for _ in range(2000)
        ),
    ]
    for moment in moments:
        for zone in zones:
            local = moment.astimezone(zone)
            assert ours(local) == formats(to_utc(local, dialect)), local
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive datetimes are not stored"):
        ours(datetime(2026, 12, 6, 8, 0))
