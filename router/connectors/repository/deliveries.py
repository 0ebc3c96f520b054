"""Connector deliveries: queued with the event, claimed when due, their attempts
recorded, listed and retried; the lead as routing has it now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from router.connectors.base import Delivery, LeadNow
from router.connectors.records import ConnectorDelivery
from router.models import (
    assignments,
    connector_deliveries,
    connectors,
    leads,
)
from router.records import parsed
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx
from services.statements import oldest_due

INSERT_DELIVERY = connector_deliveries.insert()


def queue_deliveries(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Written with the transaction's outbox rows at commit (one multi-row INSERT)."""
    for row in rows:
        tx.defer(INSERT_DELIVERY, row)


_ANY_DUE = (
    select(connector_deliveries.c.id)
    .where(
        connector_deliveries.c.status == "pending",
        connector_deliveries.c.next_attempt_at <= bindparam("now"),
    )
    .limit(1)
)


async def any_due(conn: Conn, now: datetime) -> bool:
    return await _c(conn).scalar(_ANY_DUE, {"now": now}) is not None


async def claim_due(
    tx: Tx, now: datetime, lease_until: datetime, limit: int, full: Sequence[str]
) -> list[Delivery]:
    """Lease due deliveries, oldest first, but those of connectors whose share of the
    worker is `full` (not even read: each other connector's oldest are read per connector;
    replicas skip each other's rows on PostgreSQL)."""
    takes = {c: limit for c in (r["id"] for r in await tx.rows(_CONNECTOR_IDS, {}))}
    for connector_id in full:
        takes.pop(connector_id, None)
    rows = await oldest_due(tx, connector_deliveries.c.connector_id, _CLAIMED, now, takes, limit)
    if not rows:
        return []
    await tx.rows(_LEASE, {"ids": [r["id"] for r in rows], "lease_until": lease_until})
    return [
        Delivery(
            id=r["id"],
            connector_id=r["connector_id"],
            event_id=r["event_id"],
            event_type=r["event_type"],
            lead_id=r["lead_id"],
            payload=r["payload"],
            attempts=r["attempts"],
            expires_at=r["expires_at"],
        )
        for r in rows
    ]


async def delete_orphans(tx: Tx) -> int:
    """Delete the pending deliveries of connectors that no longer exist: queued by a routing
    transaction that read the connector before its delete committed. Claims seek per
    connector and never read them; left alone, they would stay pending (and due) forever.
    Returns how many."""
    result = await tx.conn.execute(_DELETE_ORPHANS)
    return result.rowcount or 0


# Built once (a statement built per call costs more CPU than the database takes to run it).
_CONNECTOR_IDS = select(connectors.c.id)
_DELETE_ORPHANS = delete(connector_deliveries).where(
    connector_deliveries.c.status == "pending",
    connector_deliveries.c.connector_id.not_in(select(connectors.c.id)),
)
_CLAIMED = (
    "id",
    "connector_id",
    "event_id",
    "event_type",
    "lead_id",
    "payload",
    "attempts",
    "expires_at",
)
_LEASE = (
    update(connector_deliveries)
    .where(connector_deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .values(next_attempt_at=bindparam("lease_until"))
)


_RECORD_ATTEMPT = (
    update(connector_deliveries)
    .where(connector_deliveries.c.id == bindparam("_id"))
    .values(
        status=bindparam("_status"),
        attempts=bindparam("_attempts"),
        last_attempt_at=bindparam("_attempted_at"),
        last_status_code=bindparam("_status_code"),
        last_error=bindparam("_error"),
        next_attempt_at=bindparam("_next_attempt_at"),
        delivered_at=bindparam("_delivered_at"),
    )
)


def record_attempt(
    tx: Tx,
    delivery_id: str,
    *,
    status: str,
    attempts: int,
    attempted_at: datetime,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    """Deferred: attempts that finish together are written with one statement."""
    tx.defer(
        _RECORD_ATTEMPT,
        {
            "_id": delivery_id,
            "_status": status,
            "_attempts": attempts,
            "_attempted_at": attempted_at,
            "_status_code": status_code,
            "_error": error,
            "_next_attempt_at": next_attempt_at,
            "_delivered_at": attempted_at if status == "delivered" else None,
        },
    )


def _delivery(row: Any) -> ConnectorDelivery:
    return parsed(ConnectorDelivery, row._mapping)


async def list_deliveries(
    conn: Conn, connector_id: str, status: str | None, limit: int
) -> list[ConnectorDelivery]:
    c = connector_deliveries.c
    query = (
        select(connector_deliveries)
        .where(c.connector_id == connector_id)
        .order_by(c.created_at.desc(), c.id)
        .limit(limit)
    )
    if status:
        query = query.where(c.status == status)
    return [_delivery(r) for r in (await _c(conn).execute(query)).all()]


async def get_delivery(conn: Conn, delivery_id: str) -> ConnectorDelivery | None:
    row = (
        await _c(conn).execute(
            select(connector_deliveries).where(connector_deliveries.c.id == delivery_id)
        )
    ).first()
    return _delivery(row) if row else None


async def retry_delivery(tx: Tx, delivery_id: str, now: datetime, expires_at: datetime) -> None:
    await tx.conn.execute(
        update(connector_deliveries)
        .where(connector_deliveries.c.id == delivery_id)
        .values(status="pending", next_attempt_at=now, expires_at=expires_at)
    )


async def lead_now(conn: Conn, lead_id: str) -> LeadNow | None:
    """The lead as routing has it now, with its current assignment's first touch."""
    row = (
        await _c(conn).execute(
            select(
                leads.c.lead_id,
                leads.c.status,
                leads.c.rep_id,
                leads.c.assignment_id,
                leads.c.profile,
                assignments.c.touched_at,
            )
            .select_from(leads.outerjoin(assignments, assignments.c.id == leads.c.assignment_id))
            .where(leads.c.lead_id == lead_id)
        )
    ).first()
    if row is None:
        return None
    return LeadNow(
        lead_id=row.lead_id,
        status=row.status,
        rep_id=row.rep_id,
        assignment_id=row.assignment_id,
        touched_at=row.touched_at,
        profile=dict(row.profile or {}),
    )
