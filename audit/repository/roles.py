"""The roles audit keeps itself (the sales executive), over the chassis's API keys."""

from __future__ import annotations

from sqlalchemy import (
    select,
    update,
)

from audit.models import (
    roles,
)
from audit.records import RoleRow
from audit.repository.common import insert_ignore
from services.db import Conn, Tx, connection_of
from services.tables import api_keys


async def api_key_scope(conn: Conn, key_id: str) -> str | None:
    """The scope of an active API key (the shared auth store), or None."""
    row = (
        await connection_of(conn).execute(
            select(api_keys.c.scope).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        )
    ).first()
    return str(row.scope) if row is not None else None


async def grant_role(tx: Tx, key_id: str, role: str, granted_by: str) -> bool:
    """True when the role is newly granted (or granted again after a revoke)."""
    values = {"granted_by": granted_by, "granted_at": tx.now()}
    if await insert_ignore(tx, roles, {"key_id": key_id, "role": role, **values}):
        return True
    result = await tx.conn.execute(
        update(roles)
        .where(roles.c.key_id == key_id, roles.c.role == role, roles.c.revoked_at.is_not(None))
        .values(revoked_at=None, revoked_by=None, **values)
    )
    return bool(result.rowcount == 1)


async def revoke_role(tx: Tx, key_id: str, role: str, revoked_by: str) -> bool:
    result = await tx.conn.execute(
        update(roles)
        .where(roles.c.key_id == key_id, roles.c.role == role, roles.c.revoked_at.is_(None))
        .values(revoked_at=tx.now(), revoked_by=revoked_by)
    )
    return bool(result.rowcount == 1)


async def has_role(conn: Conn, key_id: str, role: str) -> bool:
    found = await connection_of(conn).scalar(
        select(roles.c.key_id).where(
            roles.c.key_id == key_id, roles.c.role == role, roles.c.revoked_at.is_(None)
        )
    )
    return found is not None


async def list_roles(conn: Conn, role: str) -> list[RoleRow]:
    rows = (
        await connection_of(conn).execute(
            select(roles).where(roles.c.role == role).order_by(roles.c.granted_at)
        )
    ).all()
    return [RoleRow(**r._mapping) for r in rows]
