"""A statement compiled once by SQLAlchemy for a driver, to be run as driver SQL.

services/pgdriver.py (asyncpg) and services/driversql.py (sqlite3) run the chassis's
hottest statements on the transaction's own driver connection. What both need from
SQLAlchemy is here: the SQL with positional parameters, how to make its values from named
parameters (SQLAlchemy's own bind processors; a value fixed in the statement as built; an
`IN` list expanded as SQLAlchemy expands it), and how to read its rows (SQLAlchemy's
converters of the result columns, an aware UTC datetime for instance). `compiled` says None
where SQLAlchemy would do more than that, and the caller then runs the statement through
SQLAlchemy: a default computed in Python, a value rendered into the SQL, or a result
converter that needs the column's type as the driver reports it (numbers on asyncpg).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import ClauseElement, Dialect, Executable
from sqlalchemy.sql.compiler import SQLCompiler

Row = Mapping[str, Any]
"""A row read as driver SQL or through SQLAlchemy (its mapping), by column name."""

DRIVERS = frozenset({"asyncpg", "pysqlite"})


@dataclass(frozen=True)
class Compiled:
    """A statement as SQL with positional parameters, how to make its values, and how to
    read its rows."""

    sql: str
    keys: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    fixed: Mapping[str, Any]
    expanding: SQLCompiler | None
    """The compiled statement when a parameter expands at execution (an `IN` list): its
    SQL and values are then made for each call, as SQLAlchemy makes them."""
    columns: tuple[str, ...]
    """The result columns' names, in order."""
    readers: tuple[Callable[[Any], Any] | None, ...] | None
    """The result columns' converters, in order; None when there is none."""

    def values(self, parameters: Mapping[str, Any]) -> list[Any]:
        values = []
        for key, processor in zip(self.keys, self.processors, strict=True):
            value = parameters[key] if key in parameters else self.fixed[key]
            values.append(value if processor is None else processor(value))
        return values

    def bound(self, parameters: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL and the values to run it with `parameters`."""
        if self.expanding is None:
            return self.sql, self.values(parameters)
        state = self.expanding.construct_expanded_state(dict(parameters))
        values = []
        for key in state.positiontup or ():
            value, processor = state.parameters[key], state.processors.get(key)
            values.append(value if processor is None else processor(value))
        return state.statement, values

    def read(self, records: Iterable[Sequence[Any]]) -> list[Row]:
        """Rows by column name from records whose values are in the columns' order (an
        asyncpg record, a sqlite3 tuple)."""
        if self.readers is None:
            return [dict(zip(self.columns, record, strict=True)) for record in records]
        return [
            {
                key: value if reader is None else reader(value)
                for key, value, reader in zip(self.columns, record, self.readers, strict=True)
            }
            for record in records
        ]


@cache
def compiled(statement: Executable, keys: tuple[str, ...], dialect: Dialect) -> Compiled | None:
    """`statement` for parameters named `keys`, compiled as SQLAlchemy compiles it for
    `dialect`'s driver; None when SQLAlchemy would do more than bind values and convert them
    and the columns it reads (see the module's docstring)."""
    if dialect.driver not in DRIVERS or not isinstance(statement, ClauseElement):
        return None
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    if not isinstance(compiled, SQLCompiler) or compiled.positiontup is None:
        return None
    if compiled.literal_execute_params or compiled.insert_prefetch or compiled.update_prefetch:
        return None
    try:
        readers = tuple(
            column.type._cached_result_processor(dialect, None)
            for column in compiled._result_columns
        )
    except Exception:  # noqa: BLE001 - a converter that needs the column's type as read
        return None  # (numbers on asyncpg: its type code), which only SQLAlchemy's cursor has
    order = tuple(compiled.positiontup)
    fixed: dict[str, Any] = {}
    for name in order:
        if name in keys:
            continue
        bind = compiled.binds.get(name)
        if bind is None or bind.callable is not None or bind.required:
            return None
        fixed[name] = bind.effective_value
    processors = cast(dict[str, Callable[[Any], Any]], compiled._bind_processors)
    return Compiled(
        compiled.string,
        order,
        tuple(processors.get(k) for k in order),
        fixed,
        compiled if compiled.post_compile_params else None,
        tuple(column.keyname for column in compiled._result_columns),
        readers if any(reader is not None for reader in readers) else None,
    )
