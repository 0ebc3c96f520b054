"""Tracks and templates put through the manager API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from nurture.models import api_templates, api_tracks
from nurture.records import StoredDefinition
from services.db import Conn, Tx, connection_of


async def api_definitions(conn: Conn, kind: str) -> list[StoredDefinition]:
    table = api_tracks if kind == "track" else api_templates
    rows = (await connection_of(conn).execute(select(table).order_by(table.c.id))).all()
    return [
        StoredDefinition(
            r.id,
            dict(r.definition),
            r.version,
            r.created_at,
            r.updated_at,
            r.changed_by,
            r.changed_by_name,
        )
        for r in rows
    ]


async def put_api_definition(
    tx: Tx,
    kind: str,
    item_id: str,
    definition: dict[str, Any],
    now: datetime,
    by: tuple[str, str | None],
) -> StoredDefinition:
    """Store a track or template; `by` is the API key's id and name."""
    table = api_tracks if kind == "track" else api_templates
    row = (await tx.conn.execute(select(table).where(table.c.id == item_id))).first()
    key_id, name = by
    if row is None:
        await tx.conn.execute(
            table.insert().values(
                id=item_id,
                definition=definition,
                version=1,
                created_at=now,
                updated_at=now,
                changed_by=key_id,
                changed_by_name=name,
            )
        )
        return StoredDefinition(item_id, definition, 1, now, now, key_id, name)
    version = row.version + 1
    await tx.conn.execute(
        update(table)
        .where(table.c.id == item_id)
        .values(
            definition=definition,
            version=version,
            updated_at=now,
            changed_by=key_id,
            changed_by_name=name,
        )
    )
    return StoredDefinition(item_id, definition, version, row.created_at, now, key_id, name)


async def delete_api_definition(tx: Tx, kind: str, item_id: str) -> bool:
    table = api_tracks if kind == "track" else api_templates
    return bool((await tx.conn.execute(delete(table).where(table.c.id == item_id))).rowcount)
