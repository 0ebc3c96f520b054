"""All of the connectors' SQL (their tables are in router/models.py, with the router's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from router.config import ROUTING
from router.connectors.base import ConnectorConfig, Delivery, LeadNow
from router.connectors.schemas import ConnectorDeliveryOut
from router.models import (
    assignments,
    connector_deliveries,
    connectors,
    crm_activities,
    crm_records,
    leads,
)
from router.repository import WORKING_STATUSES, Conn, _c
from services import erasure
from services.crypto import SecretBox
from services.db import Tx
from services.reference import bump
from services.statements import insert_ignoring, upsert


@dataclass(frozen=True)
class StoredConnector:
    config: ConnectorConfig
    created_at: datetime
    updated_at: datetime


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
    for table in (connector_deliveries, crm_records, crm_activities):
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


# --- deliveries -------------------------------------------------------------------------------

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
    worker is `full` (replicas skip each other's rows on PostgreSQL)."""
    c = connector_deliveries.c
    query = (
        select(c.id, c.connector_id, c.event_id, c.event_type, c.lead_id, c.payload)
        .add_columns(c.attempts, c.expires_at)
        .where(
            c.status == "pending",
            c.next_attempt_at <= now,
            c.connector_id.not_in(list(full)),
        )
        .order_by(c.next_attempt_at, c.created_at)
        .limit(limit)
    )
    if tx.conn.dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    rows = (await tx.conn.execute(query)).all()
    if not rows:
        return []
    await tx.conn.execute(
        update(connector_deliveries)
        .where(c.id.in_([r.id for r in rows]))
        .values(next_attempt_at=lease_until)
    )
    return [
        Delivery(
            id=r.id,
            connector_id=r.connector_id,
            event_id=r.event_id,
            event_type=r.event_type,
            lead_id=r.lead_id,
            payload=r.payload,
            attempts=r.attempts,
            expires_at=r.expires_at,
        )
        for r in rows
    ]


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


def _delivery_out(row: Any) -> ConnectorDeliveryOut:
    return ConnectorDeliveryOut.model_validate(dict(row._mapping))


async def list_deliveries(
    conn: Conn, connector_id: str, status: str | None, limit: int
) -> list[ConnectorDeliveryOut]:
    c = connector_deliveries.c
    query = (
        select(connector_deliveries)
        .where(c.connector_id == connector_id)
        .order_by(c.created_at.desc(), c.id)
        .limit(limit)
    )
    if status:
        query = query.where(c.status == status)
    return [_delivery_out(r) for r in (await _c(conn).execute(query)).all()]


async def get_delivery(conn: Conn, delivery_id: str) -> ConnectorDeliveryOut | None:
    row = (
        await _c(conn).execute(
            select(connector_deliveries).where(connector_deliveries.c.id == delivery_id)
        )
    ).first()
    return _delivery_out(row) if row else None


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


# --- the CRM's records and activities ---------------------------------------------------------


async def link_record(
    tx: Tx, connector_id: str, lead_id: str, record_id: str, now: datetime
) -> None:
    statement = upsert(
        crm_records,
        tx.conn.dialect.name,
        ("connector_id", "lead_id", "record_id", "updated_at"),
        ("connector_id", "lead_id"),
    )
    await tx.conn.execute(
        statement,
        {
            "connector_id": connector_id,
            "lead_id": lead_id,
            "record_id": record_id,
            "updated_at": now,
        },
    )


async def record_of(conn: Conn, connector_id: str, lead_id: str) -> str | None:
    value = await _c(conn).scalar(
        select(crm_records.c.record_id).where(
            crm_records.c.connector_id == connector_id, crm_records.c.lead_id == lead_id
        )
    )
    return str(value) if value is not None else None


async def leads_of_records(conn: Conn, connector_id: str, record_ids: Sequence[str]) -> list[str]:
    rows = await _c(conn).execute(
        select(crm_records.c.lead_id)
        .where(
            crm_records.c.connector_id == connector_id,
            crm_records.c.record_id.in_(list(record_ids)),
        )
        .order_by(crm_records.c.updated_at.desc())
    )
    return [r.lead_id for r in rows]


async def working_leads_by_email(conn: Conn, emails: Sequence[str]) -> list[str]:
    """Leads a rep is working whose email is one of `emails` (normalised, lower case)."""
    if not emails:
        return []
    rows = await _c(conn).execute(
        select(leads.c.lead_id)
        .where(
            leads.c.status.in_(WORKING_STATUSES),
            leads.c.profile["email"].as_string().in_([e.lower() for e in emails]),
        )
        .order_by(leads.c.updated_at.desc())
    )
    return [r.lead_id for r in rows]


async def claim_activity(
    tx: Tx, connector_id: str, external_id: str, lead_id: str, now: datetime
) -> bool:
    """Record that the vendor's activity is taken in; False when it was already."""
    result = await tx.conn.execute(
        insert_ignoring(crm_activities, tx.conn.dialect.name),
        {
            "connector_id": connector_id,
            "external_id": external_id,
            "activity_id": "",
            "lead_id": lead_id,
            "received_at": now,
        },
    )
    return bool(result.rowcount == 1)


async def activity_of(conn: Conn, connector_id: str, external_id: str) -> tuple[str, str] | None:
    row = (
        await _c(conn).execute(
            select(crm_activities.c.activity_id, crm_activities.c.lead_id).where(
                crm_activities.c.connector_id == connector_id,
                crm_activities.c.external_id == external_id,
            )
        )
    ).first()
    return (row.activity_id, row.lead_id) if row else None


async def set_activity(tx: Tx, connector_id: str, external_id: str, activity_id: str) -> None:
    await tx.conn.execute(
        update(crm_activities)
        .where(
            crm_activities.c.connector_id == connector_id,
            crm_activities.c.external_id == external_id,
        )
        .values(activity_id=activity_id)
    )


# --- erasure ----------------------------------------------------------------------------------


async def erase_lead(tx: Tx, lead_id: str, values: set[str]) -> int:
    """An erased person is never written to a CRM: their waiting deliveries are dead, every
    delivery about them is redacted, and the CRM records Leadfarm wrote for them are
    forgotten (their activities then match no lead)."""
    await tx.conn.execute(delete(crm_records).where(crm_records.c.lead_id == lead_id))
    c = connector_deliveries.c
    rows = (
        await tx.conn.execute(
            select(c.id, c.payload, c.last_error, c.status).where(c.lead_id == lead_id)
        )
    ).all()
    for row in rows:
        values_out: dict[str, Any] = {
            "payload": erasure.redact_record(row.payload, values),
            "last_error": erasure.scrub_text(row.last_error, values) if row.last_error else None,
        }
        if row.status == "pending":
            values_out |= {
                "status": "dead",
                "next_attempt_at": None,
                "last_error": "not written: the person was erased",
            }
        await tx.conn.execute(update(connector_deliveries).where(c.id == row.id).values(values_out))
    return len(rows)
