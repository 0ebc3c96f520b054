"""Which definitions are active.

The active definitions are the latest stored version (`qualifier_definitions`, highest
`seq`). The file the service starts with (`LEADFARM_QUALIFIER_DEFINITIONS_FILE`, else the
shipped `qualifier/definitions/default.yaml`) joins that history when the service starts
(`seed`, an `on_start` hook), unless a version of that name is stored already: shipping a file
with a new `version` makes it active; restarting with a version that is already stored
changes nothing (a later `PUT` stays active). Until the file is stored, reads show it as it
would be (no `seq`, no `changed_at`).

The active definitions are kept in memory (`services.reference.Reference`): every write of
`qualifier_definitions` (a `PUT`, the start-up file joining the history) bumps the
`definitions` version in its transaction (`definition_versions.insert_definitions`), and a reader
reloads only when that version moved. A batch of leads costs one indexed version read, not
a read of the definitions and never a YAML parse; a change made through the API on one
replica takes effect for the next lead on every replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from qualifier.definitions import parse
from qualifier.definitions.model import Definitions
from qualifier.records import StoredDefinitions
from qualifier.repository import definition_versions
from services.db import Conn, ReadConn, Tx, UnitOfWork
from services.reference import Reference

FILE_CHANGED_BY = "file"


@dataclass(frozen=True)
class ActiveDefinitions:
    definitions: Definitions
    yaml: str
    seq: int | None
    origin: str
    changed_by: str
    changed_at: datetime | None


class DefinitionsCatalog:
    def __init__(self, file_text: str, file_definitions: Definitions, file_name: str) -> None:
        self.file_text = file_text
        self.file = file_definitions
        self.file_origin = f"file:{file_name}"
        self._parsed: dict[int, Definitions] = {}
        self.stored = Reference("qualifier", definition_versions.DEFINITIONS, self._load)

    async def active(self, conn: Conn) -> ActiveDefinitions:
        """The active definitions: the latest stored version (the start-up file is stored
        at start, `seed`); the file itself until then."""
        active = await self.stored.current(conn)
        if active is None:
            return ActiveDefinitions(
                self.file, self.file_text, None, self.file_origin, FILE_CHANGED_BY, None
            )
        return active

    async def history(self, conn: ReadConn) -> list[StoredDefinitions]:
        """Every stored version of the definitions, newest (the active one) first."""
        return await definition_versions.definitions_history(conn)

    async def version(self, conn: Conn, version: str) -> StoredDefinitions | None:
        """The stored definitions of that version, if any."""
        return await definition_versions.definitions_by_version(conn, version)

    async def seed(self, unit: UnitOfWork) -> None:
        """At start: store the start-up file as a version when its version is new. Replicas
        starting together may both try; the one that loses finds the other's row."""
        try:
            async with unit.transaction() as tx:
                await self.store_file(tx)
        except IntegrityError:
            async with unit.read() as conn:
                stored = await definition_versions.definitions_by_version(conn, self.file.version)
            if stored is None:
                raise

    async def _load(self, conn: AsyncConnection) -> ActiveDefinitions | None:
        """The latest stored definitions; None while the start-up file is not stored."""
        head, file_stored = await definition_versions.head_definitions_and_whether_stored(
            conn, self.file.version
        )
        if not file_stored or head is None:
            return None
        return ActiveDefinitions(
            self.parsed(head),
            head.yaml,
            head.seq,
            head.origin,
            head.changed_by,
            head.changed_at,
        )

    async def store_file(self, tx: Tx) -> None:
        """Store the start-up file as a version, if its version is not stored yet."""
        if await definition_versions.definitions_by_version(tx, self.file.version) is not None:
            return
        await definition_versions.insert_definitions(
            tx,
            version=self.file.version,
            description=self.file.description,
            yaml=self.file_text,
            origin=self.file_origin,
            changed_by=FILE_CHANGED_BY,
        )

    def parsed(self, stored: StoredDefinitions) -> Definitions:
        cached = self._parsed.get(stored.seq)
        if cached is None:
            # Stored text was validated when it was stored; a failure here is a bug.
            cached = parse(stored.yaml, source=f"definitions {stored.version}")
            self._parsed[stored.seq] = cached
        return cached
