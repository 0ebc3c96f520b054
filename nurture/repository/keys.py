"""The link-signing key kept in nurture's tables (when none is configured)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from nurture.models import keys
from services.crypto import SecretBox
from services.db import Conn, Tx, connection_of

SIGNING_KEY = "link-signing"


async def signing_key(conn: Conn) -> str | None:
    value = await connection_of(conn).scalar(select(keys.c.value).where(keys.c.name == SIGNING_KEY))
    return str(value) if value is not None else None


async def reseal_signing_key(tx: Tx, box: SecretBox) -> bool:
    """Seal the stored key with the first key when it is plain or under another key."""
    stored = await signing_key(tx)
    resealed = box.resealed(stored) if stored is not None else None
    if resealed is None:
        return False
    await tx.conn.execute(update(keys).where(keys.c.name == SIGNING_KEY).values(value=resealed))
    return True


async def create_signing_key(tx: Tx, value: str, now: datetime) -> str:
    """Store `value` unless another process stored a key first; returns the stored key."""
    try:
        async with tx.savepoint():
            await tx.conn.execute(
                keys.insert().values(name=SIGNING_KEY, value=value, created_at=now)
            )
    except IntegrityError:
        pass  # another process stored its key first: that one is used
    stored = await signing_key(tx)
    assert stored is not None
    return stored
