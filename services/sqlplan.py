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

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from sqlalchemy import ClauseElement, Dialect, Executable
from sqlalchemy.sql.compiler import SQLCompiler

Row = Mapping[str, Any]
"""A row read as driver SQL or through SQLAlchemy (its mapping), by column name."""

Slot = tuple[str | None, int | None, int | None, Callable[[Any], Any] | None, Any]
"""Where a positional value comes from: the parameter, the index in its list and in that
element's tuple (None: the parameter itself), the bind processor; or, with no parameter, the
value fixed in the statement."""
Expansion = tuple[str, tuple[Slot, ...]]

DRIVERS = frozenset({"asyncpg", "pysqlite"})
MAX_EXPANSIONS = 512
"""Shapes kept per statement (one per length of its list, mostly)."""


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
    expanding_names: tuple[str, ...] = ()
    """The parameters that expand (`IN` lists)."""
    expansions: dict[tuple[Any, ...], Expansion] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Per shape of the expanding parameters (their lengths, and their tuples' width), the
    SQL SQLAlchemy expands them to and where each value comes from: SQLAlchemy expanding a
    statement for each call was a twentieth of a batch of one event's CPU."""
    _row_values: Callable[[Mapping[str, Any]], list[Any]] | None = field(
        init=False, compare=False, repr=False
    )
    """A row's values when the statement fixes none (`row_values`)."""

    def __post_init__(self) -> None:
        reader = row_values(self.keys, self.processors) if self.keys and not self.fixed else None
        object.__setattr__(self, "_row_values", reader)

    def values(self, parameters: Mapping[str, Any]) -> list[Any]:
        if self._row_values is not None:  # a row lacking a value raises KeyError, as below
            return self._row_values(parameters)
        values = []
        for key, processor in zip(self.keys, self.processors, strict=True):
            value = parameters[key] if key in parameters else self.fixed[key]
            values.append(value if processor is None else processor(value))
        return values

    def bound(self, parameters: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL and the values to run it with `parameters`."""
        if self.expanding is None:
            return self.sql, self.values(parameters)
        shape = tuple(_shape(parameters.get(name)) for name in self.expanding_names)
        expansion = self.expansions.get(shape)
        if expansion is None:
            if len(self.expansions) >= MAX_EXPANSIONS:
                self.expansions.clear()
            expansion = self.expansions[shape] = _expansion(
                self.expanding, self.expanding_names, parameters
            )
        sql, slots = expansion
        values = []
        for name, i, j, processor, value in slots:
            if name is not None:
                value = parameters[name]
                if i is not None:
                    value = value[i] if j is None else value[i][j]
            values.append(value if processor is None else processor(value))
        return sql, values

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


def row_values(
    keys: Sequence[str], processors: Sequence[Callable[[Any], Any] | None]
) -> Callable[[Mapping[str, Any]], list[Any]]:
    """A row's values of `keys` in order, each through its processor (None: as given). One
    C call takes them and only those with a processor are converted: 1.09 -> 0.43 us for
    a row of twelve values, and a lead on the embedded runtime writes about 25 rows."""
    names = tuple(keys)
    getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
        operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    )
    converting = tuple((i, p) for i, p in enumerate(processors) if p is not None)

    def values(row: Mapping[str, Any]) -> list[Any]:
        got = list(getter(row))
        for i, convert in converting:
            got[i] = convert(got[i])
        return got

    return values


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
        tuple(bind.key for bind in compiled.post_compile_params),
    )


def _shape(value: Any) -> Any:
    """What the SQL of an expanded list depends on: its length, and its tuples' width (a
    tuple `IN` list's elements are all as wide as its columns)."""
    if not isinstance(value, list | tuple):
        return None
    if value and isinstance(value[0], tuple | list):
        return len(value), len(value[0])
    return len(value)


@dataclass(frozen=True)
class _Placeholder:
    """A value that says where it came from, passed through SQLAlchemy's expansion."""

    name: str
    i: int | None = None
    j: int | None = None


def _expansion(
    expanding: SQLCompiler, names: tuple[str, ...], parameters: Mapping[str, Any]
) -> Expansion:
    """The SQL SQLAlchemy expands `parameters`' lists (those named `names`) to, and where
    each of its values comes from, found by expanding placeholders that name their place."""
    placeholders: dict[str, Any] = {}
    for name, value in parameters.items():
        if name in names and isinstance(value, list | tuple):
            placeholders[name] = [
                tuple(_Placeholder(name, i, j) for j in range(len(v)))
                if isinstance(v, tuple | list)
                else _Placeholder(name, i)
                for i, v in enumerate(value)
            ]
        else:
            placeholders[name] = _Placeholder(name)
    state = expanding.construct_expanded_state(placeholders)
    # The expanded state has the processors of the expanded values only; a parameter that
    # does not expand keeps the statement's own (SQLAlchemy merges them the same way).
    processors = cast(
        dict[str, Callable[[Any], Any]], {**expanding._bind_processors, **state.processors}
    )
    slots: list[Slot] = []
    for key in state.positiontup or ():
        value, processor = state.parameters[key], processors.get(key)
        if isinstance(value, _Placeholder):
            slots.append((value.name, value.i, value.j, processor, None))
        else:  # fixed in the statement
            slots.append((None, None, None, None, value if processor is None else processor(value)))
    return state.statement, tuple(slots)
