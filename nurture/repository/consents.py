"""Consent recorded through the API, and the suppression list (addresses kept as hashes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update

from nurture.models import consents, suppressions
from nurture.records import ExplicitBasis, Suppression, SuppressionReason
from services.db import Conn, Tx, connection_of
from services.statements import insert_ignoring


async def explicit_consent(conn: Conn, email_hash: str) -> ExplicitBasis | None:
    query = select(consents.c.basis).where(consents.c.email_hash == email_hash)
    value = await connection_of(conn).scalar(query)
    return "opt_in" if value == "opt_in" else "withdrawn" if value == "withdrawn" else None


async def put_consent(
    tx: Tx, email_hash: str, basis: ExplicitBasis, evidence: str, now: datetime
) -> None:
    values = {"basis": basis, "evidence": evidence, "recorded_at": now}
    result = await tx.conn.execute(
        update(consents).where(consents.c.email_hash == email_hash).values(values)
    )
    if result.rowcount == 0:
        inserted = await tx.conn.execute(
            insert_ignoring(consents, tx.conn.dialect.name), {"email_hash": email_hash, **values}
        )
        if inserted.rowcount == 0:  # a concurrent request recorded one since: this replaces it
            await tx.conn.execute(
                update(consents).where(consents.c.email_hash == email_hash).values(values)
            )


async def suppression(conn: Conn, email_hash: str) -> Suppression | None:
    query = select(suppressions).where(suppressions.c.email_hash == email_hash)
    row = (await connection_of(conn).execute(query)).first()
    if row is None:
        return None
    return Suppression(row.email_hash, row.reason, row.detail, row.track, row.created_at)


# A later reason replaces an earlier one only when it is at least as strong.
STRENGTH: dict[SuppressionReason, int] = {
    "manual": 0,
    "unsubscribed": 1,
    "complaint": 2,
    "hard_bounce": 2,
    "erased": 3,
}


async def suppress(
    tx: Tx,
    email_hash: str,
    reason: SuppressionReason,
    detail: str | None,
    track: str | None,
    now: datetime,
) -> bool:
    """Add the address to the suppression list; True when it was not on it. The insert comes
    first and does nothing when the address is listed (also by a concurrent request that
    committed since: a check before the insert would let both insert)."""
    inserted = await tx.conn.execute(
        insert_ignoring(suppressions, tx.conn.dialect.name),
        {
            "email_hash": email_hash,
            "reason": reason,
            "detail": detail,
            "track": track,
            "created_at": now,
        },
    )
    if inserted.rowcount == 1:
        return True
    existing = await suppression(tx, email_hash)
    assert existing is not None
    if STRENGTH.get(reason, 0) >= STRENGTH.get(existing.reason, 0):
        await tx.conn.execute(
            update(suppressions)
            .where(suppressions.c.email_hash == email_hash)
            .values(reason=reason, detail=detail)
        )
    return False


async def unsuppress(
    tx: Tx, email_hash: str, reasons: Sequence[SuppressionReason] | None = None
) -> bool:
    query = delete(suppressions).where(suppressions.c.email_hash == email_hash)
    if reasons is not None:
        query = query.where(suppressions.c.reason.in_(list(reasons)))
    return bool((await tx.conn.execute(query)).rowcount)


async def list_suppressions(conn: Conn, limit: int, offset: int) -> list[Suppression]:
    query = (
        select(suppressions)
        .order_by(suppressions.c.created_at.desc(), suppressions.c.email_hash)
        .limit(limit)
        .offset(offset)
    )
    return [
        Suppression(r.email_hash, r.reason, r.detail, r.track, r.created_at)
        for r in (await connection_of(conn).execute(query)).all()
    ]
