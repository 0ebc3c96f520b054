"""Pools (each write a version: versions.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from router.config import ROUTING
from router.models import (
    cursors,
    pool_reps,
    pools,
    rules,
)
from router.records import Changer, ConfigAction, ConfigVersion, PoolRecord, parsed
from router.repository import Conn
from router.repository import connection_of as _c
from router.repository.versions import POOL_FIELDS, record_version
from services.db import Tx
from services.reference import bump


def _pool(row: Any) -> PoolRecord:
    data = dict(row._mapping)
    data["sla"] = data["sla"] or {}
    return parsed(PoolRecord, data)


async def get_pool(conn: Conn, pool_id: str) -> PoolRecord | None:
    row = (await _c(conn).execute(select(pools).where(pools.c.id == pool_id))).first()
    return _pool(row) if row else None


async def list_pools(conn: Conn) -> list[PoolRecord]:
    return [_pool(r) for r in (await _c(conn).execute(select(pools).order_by(pools.c.id))).all()]


async def upsert_pool(
    tx: Tx, pool_id: str, values: dict[str, Any], *, by: Changer, restored_from: int | None = None
) -> ConfigVersion:
    """Create or replace a pool, as a new version by `by`."""
    now = tx.now()
    await bump(tx, ROUTING)
    created = await get_pool(tx, pool_id) is None
    if created:
        await tx.conn.execute(
            pools.insert().values(id=pool_id, created_at=now, updated_at=now, **values)
        )
    else:
        await tx.conn.execute(
            update(pools).where(pools.c.id == pool_id).values(updated_at=now, **values)
        )
    state = {f: values[f] for f in POOL_FIELDS if f in values}
    action: ConfigAction = "created" if created else "changed"
    return await record_version(tx, "pool", pool_id, action, state, by, restored_from)


async def delete_pool(
    tx: Tx, pool_id: str, *, by: Changer, restored_from: int | None = None
) -> ConfigVersion | None:
    """Delete the pool, as a new version by `by`; None when there was no such pool."""
    result = await tx.conn.execute(delete(pools).where(pools.c.id == pool_id))
    await bump(tx, ROUTING)
    await tx.conn.execute(delete(pool_reps).where(pool_reps.c.pool == pool_id))
    await tx.conn.execute(delete(cursors).where(cursors.c.pool == pool_id))
    if not result.rowcount:
        return None
    return await record_version(tx, "pool", pool_id, "deleted", None, by, restored_from)


async def rules_using(conn: Conn, pool_id: str) -> list[str]:
    rows = await _c(conn).execute(select(rules.c.id).where(rules.c.pool == pool_id))
    return [r.id for r in rows]
