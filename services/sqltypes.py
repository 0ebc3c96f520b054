"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB

# SQLite only auto-increments an INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for a log.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class EncodedJson(str):
    """A JSON document already encoded (pydantic's `model_dump_json`, a record's own bytes):
    a `Json` column stores it as it is, where a dict would be encoded first. Encoding in
    pydantic's Rust serializer skips building the dict and encoding it again in Python, which
    was most of what archiving an event cost audit."""


class UTCDateTime(TypeDecorator[datetime]):
    """Always timezone-aware UTC in Python; SQLite has no time zones, so store UTC there."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return _utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_text
        return super().bind_processor(dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
    return value.astimezone(UTC)


def _sqlite_text(value: Any) -> str | None:
    """The text SQLAlchemy's SQLite DATETIME stores (`YYYY-MM-DD HH:MM:SS.ffffff`, here in
    UTC), made by `isoformat` in C: SQLAlchemy's own processor fills a format string from a
    dict, and with the conversion to UTC it was a few percent of an embedded lead's CPU
    (every timestamp of every row written). SQLite compares these as text, so the two must
    agree to the character; tests/unit/services/test_sqltypes.py holds them to it."""
    if value is None:
        return None
    return _utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")
