"""Reference data held in memory: loaded once, reloaded only when it changes.

Rules, pools, reps, definitions, sources and the like change a few times a day and are read
for every lead. Each piece of reference data has a version row (`reference_versions`, per
service and name); whatever changes the data bumps that row **in the same transaction**
(`bump`), so the change and the new version commit together. A reader asks for the data
with `Reference.current(conn)`: one indexed read of the version, and a reload only when the
version moved. A consumer asks once per batch, so a change made through the API takes effect
for the next batch (the next lead) on every replica, and nothing reads the data per lead.

The version is read before the data, in the same transaction: on PostgreSQL (read
committed) each statement sees at least what the version read saw, so the copy kept is
never older than the version it is kept under. A transaction that bumped a name may still
roll back, so what it reads of that name is not kept (another transaction could commit
other data under the same version number).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services import metrics
from services.db import Tx
from services.statements import upsert
from services.tables import reference_versions

T = TypeVar("T")

_VERSION = select(reference_versions.c.version).where(
    reference_versions.c.service == bindparam("service"),
    reference_versions.c.name == bindparam("name"),
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

    async def current(self, conn: AsyncConnection | Tx) -> T:
        """The data as of now: the kept copy, or a fresh one when the version moved."""
        connection = conn.conn if isinstance(conn, Tx) else conn
        if isinstance(conn, Tx) and (self.service, self.name) in _bumped.get(conn, ()):
            return await self.load(connection)  # not committed yet: not kept
        version = int(
            await connection.scalar(_VERSION, {"service": self.service, "name": self.name}) or 0
        )
        if self._copy is None or self._copy[0] != version:
            self._copy = (version, await self.load(connection))
            metrics.REFERENCE_RELOADS.labels(self.service, self.name).inc()
        return self._copy[1]

    def forget(self) -> None:
        """Drop the copy (the next `current` loads)."""
        self._copy = None


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
    _bumped.setdefault(tx, set()).add((tx.service, name))
