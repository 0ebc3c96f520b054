"""Connectors: their stored configuration, with the credentials sealed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from router.config import ROUTING
from router.connectors.base import ConnectorConfig
from router.connectors.records import StoredConnector
from router.models import (
    account_sync_unmatched,
    account_syncs,
    connector_deliveries,
    connectors,
    crm_activities,
    crm_records,
)
from router.repository import Conn
from router.repository import connection_of as _c
from services.crypto import SecretBox
from services.db import Tx
from services.reference import bump
from services.statements import any_other_row


def _connector(row: Any) -> StoredConnector:
    return StoredConnector(
        ConnectorConfig(
            id=row.id,
            kind=row.kind,
            settings=dict(row.settings),
            credentials=row.credentials,
            active=row.active,
        ),
        row.created_at,
        row.updated_at,
    )


async def list_connectors(conn: Conn, *, active_only: bool = False) -> list[StoredConnector]:
    query = select(connectors).order_by(connectors.c.id)
    if active_only:
        query = query.where(connectors.c.active)
    return [_connector(r) for r in (await _c(conn).execute(query)).all()]


async def get_connector(conn: Conn, connector_id: str) -> StoredConnector | None:
    row = (
        await _c(conn).execute(select(connectors).where(connectors.c.id == connector_id))
    ).first()
    return _connector(row) if row else None


async def insert_connector(tx: Tx, values: dict[str, Any]) -> None:
    """`values["credentials"]` is stored as given: the caller seals it."""
    await tx.conn.execute(connectors.insert().values(**values))
    await bump(tx, ROUTING)


async def update_connector(tx: Tx, connector_id: str, values: dict[str, Any]) -> None:
    await tx.conn.execute(
        update(connectors).where(connectors.c.id == connector_id).values(**values)
    )
    await bump(tx, ROUTING)


async def delete_connector(tx: Tx, connector_id: str) -> bool:
    for table in (
        connector_deliveries,
        crm_records,
        crm_activities,
        account_syncs,
        account_sync_unmatched,
    ):
        await tx.conn.execute(delete(table).where(table.c.connector_id == connector_id))
    result = await tx.conn.execute(delete(connectors).where(connectors.c.id == connector_id))
    await bump(tx, ROUTING)
    return bool(result.rowcount)


async def reseal_credentials(tx: Tx, box: SecretBox) -> int:
    """Seal, with the first key, every connector's credentials stored under another key."""
    changed = 0
    for row in (await tx.conn.execute(select(connectors.c.id, connectors.c.credentials))).all():
        resealed = box.resealed(row.credentials)
        if resealed is not None:
            await tx.conn.execute(
                update(connectors).where(connectors.c.id == row.id).values(credentials=resealed)
            )
            changed += 1
    if changed:
        await bump(tx, ROUTING)
    return changed


async def any_besides(conn: Conn, ids: list[str]) -> bool:
    """Whether a connector other than `ids` exists (one row at most is read)."""
    return await _c(conn).scalar(any_other_row(connectors.c.id), {"ids": ids}) is not None
