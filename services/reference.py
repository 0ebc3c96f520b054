"""Reference data held in memory: loaded once, reloaded only when it changes.

Rules, pools, reps, definitions, sources and the like change a few times a day and are read
for every lead. Each piece of reference data has a version row (`reference_versions`, per
service and name); whatever changes the data bumps that row **in the same transaction**
(`bump`), so the change and the new version commit together. A reader asks for the data
with `Reference.current(conn)`: one indexed read of the version (in a write transaction, one
read of all its service's versions, whatever it asks for), and a reload only when the
version moved. A consumer asks once per batch, so a change made through the API takes effect
for the next batch (the next lead) on every replica, and nothing reads the data per lead.

On the embedded runtime (SQLite) this process is the database's only writer and its write
transactions run one at a time, so it knows when a bump commits (`Database.reference_changes`):
a write transaction asking for data checked since the last such commit gets the copy without
reading the version at all.

The version is read before the data, in the same transaction: on PostgreSQL (read
committed) each statement sees at least what the version read saw, so the copy kept is
never older than the version it is kept under. A transaction that bumped a name may still
roll back, so what it reads of that name is not kept (another transaction could commit
other data under the same version number).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services import metrics
from services.db import Database, Tx
from services.statements import upsert
from services.tables import reference_versions

T = TypeVar("T")

_VERSION = select(reference_versions.c.version).where(
    reference_versions.c.service == bindparam("service"),
    reference_versions.c.name == bindparam("name"),
)

_VERSIONS = select(reference_versions.c.name, reference_versions.c.version).where(
    reference_versions.c.service == bindparam("service")
)

_bumped: WeakKeyDictionary[Tx, set[tuple[str, str]]] = WeakKeyDictionary()
"""The (service, name)s each open transaction has bumped (their new data is not committed yet)."""


class Reference(Generic[T]):
    """One piece of a service's reference data and the in-memory copy of it."""

    def __init__(
        self, service: str, name: str, load: Callable[[AsyncConnection], Awaitable[T]]
    ) -> None:
        self.service = service
        self.name = name
        self.load = load
        self._copy: tuple[int, T] | None = None
        self._checked: tuple[Database, int] | None = None
        """The SQLite database and its `reference_changes` when the copy was last known
        current in a write transaction."""

    async def current(self, conn: AsyncConnection | Tx) -> T:
        """The data as of now: the kept copy, or a fresh one when the version moved."""
        connection = conn.conn if isinstance(conn, Tx) else conn
        checked: tuple[Database, int] | None = None
        if isinstance(conn, Tx):
            if (self.service, self.name) in _bumped.get(conn, ()):
                return await self.load(connection)  # not committed yet: not kept
            database = conn.unit.database
            if database.is_sqlite:
                # Write transactions hold the database's write lock: nothing commits a bump
                # while this one runs, so it sees every bump counted so far.
                checked = (database, database.reference_changes)
                if self._copy is not None and self._checked == checked:
                    return self._copy[1]
        if isinstance(conn, Tx) and conn.service == self.service:
            version = await _version_in(conn, self.name)
        else:
            version = int(
                await connection.scalar(_VERSION, {"service": self.service, "name": self.name}) or 0
            )
        if self._copy is None or self._copy[0] != version:
            self._copy = (version, await self.load(connection))
            metrics.REFERENCE_RELOADS.labels(self.service, self.name).inc()
        self._checked = checked
        return self._copy[1]

    def forget(self) -> None:
        """Drop the copy (the next `current` loads)."""
        self._copy = None
        self._checked = None


async def _version_in(tx: Tx, name: str) -> int:
    """The version of `name` as this transaction first read its service's versions: every
    name at once, by its first `current` (a qualifier batch asks for its definitions and its
    model: one read), or by the statement a consumer's batch opens with (services/inbox.py)."""
    versions = tx.reference_versions
    if versions is None:
        rows = await tx.conn.execute(_VERSIONS, {"service": tx.service})
        versions = tx.reference_versions = {row.name: int(row.version) for row in rows}
    return versions.get(name, 0)


async def bump(tx: Tx, name: str) -> None:
    """Say that `name` changed, in the transaction that changes it."""
    statement = upsert(
        reference_versions,
        tx.conn.dialect.name,
        ("service", "name", "version"),
        ("service", "name"),
        increment=("version",),
    )
    await tx.conn.execute(statement, {"service": tx.service, "name": name, "version": 1})
    bumped = _bumped.setdefault(tx, set())
    if not bumped:
        tx.after_commit(partial(_changed, tx.unit.database))
    bumped.add((tx.service, name))


def _changed(database: Database) -> None:
    database.reference_changes += 1
