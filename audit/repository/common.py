"""What audit's repository modules share: the connection either kind of unit gives, a
UTC time as an SQL literal, "the earlier of", and an insert that skips an existing row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    case,
    literal,
    or_,
)

from services.db import Tx
from services.sqltypes import UTCDateTime
from services.statements import insert_ignoring


def at_utc(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def earliest_of(column: Any, value: datetime) -> ColumnElement[Any]:
    return case((or_(column.is_(None), column > at_utc(value)), at_utc(value)), else_=column)


async def insert_ignore(tx: Tx, table: Table, values: dict[str, Any]) -> bool:
    """Insert unless the primary or a unique key exists; True when a row was written."""
    result = await tx.conn.execute(insert_ignoring(table, tx.conn.dialect.name), values)
    return bool(result.rowcount == 1)
