"""The qualifier's SQL for the stored versions of the definitions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from qualifier.models import definitions
from qualifier.records import StoredDefinitions
from services.db import Conn, ReadConn, Tx, connection_of
from services.reference import bump

DEFINITIONS = "definitions"
"""Reference data name (services/reference.py): bumped with every change of the stored
definitions."""


def _definitions(row: Any) -> StoredDefinitions:
    return StoredDefinitions(
        seq=row.seq,
        version=row.version,
        description=row.description,
        yaml=row.yaml,
        origin=row.origin,
        changed_by=row.changed_by,
        changed_at=row.changed_at,
    )


async def head_definitions(conn: Conn) -> StoredDefinitions | None:
    """The active (latest) stored definitions."""
    query = select(definitions).order_by(definitions.c.seq.desc()).limit(1)
    row = (await connection_of(conn).execute(query)).first()
    return _definitions(row) if row is not None else None


async def head_definitions_and_whether_stored(
    conn: AsyncConnection | Tx, version: str
) -> tuple[StoredDefinitions | None, bool]:
    """The active definitions and whether `version` is stored, in one statement (read when
    the definitions' version moved)."""
    stored = select(definitions.c.seq).where(definitions.c.version == version).exists()
    query = (
        select(definitions, stored.label("version_stored"))
        .order_by(definitions.c.seq.desc())
        .limit(1)
    )
    row = (await connection_of(conn).execute(query)).first()
    if row is None:
        return None, False
    return _definitions(row), bool(row.version_stored)


async def definitions_by_version(conn: Conn, version: str) -> StoredDefinitions | None:
    query = select(definitions).where(definitions.c.version == version)
    row = (await connection_of(conn).execute(query)).first()
    return _definitions(row) if row is not None else None


async def definitions_history(conn: ReadConn) -> list[StoredDefinitions]:
    rows = (await conn.execute(select(definitions).order_by(definitions.c.seq.desc()))).all()
    return [_definitions(r) for r in rows]


async def insert_definitions(
    tx: Tx, *, version: str, description: str, yaml: str, origin: str, changed_by: str
) -> StoredDefinitions:
    """Store a version, which becomes the active one, and bump the definitions' version so
    that every replica's copy is reloaded."""
    now = tx.now()
    result = await tx.conn.execute(
        definitions.insert().values(
            version=version,
            description=description,
            yaml=yaml,
            origin=origin,
            changed_by=changed_by,
            changed_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    await bump(tx, DEFINITIONS)
    return StoredDefinitions(
        seq=int(key[0]),
        version=version,
        description=description,
        yaml=yaml,
        origin=origin,
        changed_by=changed_by,
        changed_at=now,
    )
