"""The email steps: queued, leased to the send worker, sent or not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update

from nurture.models import messages
from nurture.records import Email
from services.db import Conn, Tx, connection_of

PENDING_MESSAGES = ("queued", "sending")


def _message(row: Any) -> Email:
    return Email(**{c.name: getattr(row, c.name) for c in messages.columns})


async def insert_message(tx: Tx, **values: Any) -> None:
    await tx.conn.execute(messages.insert().values(**values))


async def get_message(conn: Conn, message_id: str, *, for_update: bool = False) -> Email | None:
    query = select(messages).where(messages.c.id == message_id)
    if for_update and isinstance(conn, Tx) and not conn.unit.database.is_sqlite:
        query = query.with_for_update()
    row = (await connection_of(conn).execute(query)).first()
    return _message(row) if row else None


def _due(now: datetime) -> Any:
    return or_(
        (messages.c.status == "queued") & (messages.c.next_attempt_at <= now),
        (messages.c.status == "sending") & (messages.c.lease_until <= now),
    )


async def has_due_messages(conn: Conn, now: datetime) -> bool:
    found = await connection_of(conn).scalar(select(messages.c.id).where(_due(now)).limit(1))
    return found is not None


async def claim_messages(tx: Tx, now: datetime, lease_until: datetime, limit: int) -> list[Email]:
    """Due queued messages, and sending ones whose lease ran out (a worker died), leased
    to this worker until `lease_until`."""
    query = (
        select(messages)
        .where(_due(now))
        .order_by(messages.c.created_at, messages.c.step, messages.c.id)
        .limit(limit)
    )
    if not tx.unit.database.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return [_message(r) for r in (await tx.conn.execute(query)).all()]


async def set_message(tx: Tx, message_id: str, *, only_if: str | None = None, **values: Any) -> int:
    query = update(messages).where(messages.c.id == message_id)
    if only_if is not None:
        query = query.where(messages.c.status == only_if)
    return int((await tx.conn.execute(query.values(values))).rowcount)


async def cancel_pending_messages(
    tx: Tx,
    reason: str,
    *,
    enrolment_id: str | None = None,
    email_hash: str | None = None,
) -> int:
    query = update(messages).where(messages.c.status.in_(PENDING_MESSAGES))
    if enrolment_id is not None:
        query = query.where(messages.c.enrolment_id == enrolment_id)
    if email_hash is not None:
        query = query.where(messages.c.email_hash == email_hash)
    result = await tx.conn.execute(
        query.values(status="cancelled", reason=reason, next_attempt_at=None, lease_until=None)
    )
    return int(result.rowcount)


async def messages_for_lead(conn: Conn, lead_id: str, limit: int) -> list[Email]:
    query = (
        select(messages)
        .where(messages.c.lead_id == lead_id)
        .order_by(messages.c.created_at.desc(), messages.c.step.desc())
        .limit(limit)
    )
    return [_message(r) for r in (await connection_of(conn).execute(query)).all()]
