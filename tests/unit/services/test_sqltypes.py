"""A JSON document already encoded (EncodedJson) is stored as it is (on PostgreSQL:
tests/integration/test_pgdriver.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from services.clock import ManualClock
from services.db import Database, UnitOfWork
from services.sqltypes import EncodedJson, Json


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
