"""All of the connectors' SQL (their tables are in router/models.py, with the router's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from router.config import ROUTING
from router.connectors.base import ConnectorConfig, Delivery, LeadNow
from router.connectors.schemas import ConnectorDeliveryOut
from router.models import (
    account_sync_unmatched,
    account_syncs,
    assignments,
    connector_deliveries,
    connectors,
    crm_activities,
    crm_records,
    leads,
)
from router.records import WORKING_STATUSES
from router.repository import Conn
from router.repository import connection_of as _c
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


# --- account syncs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncRun:
    """A connector's account sync, leased for one run."""

    connector_id: str
    lease_id: str
    cursor: str | None
    attempts: int


async def ensure_syncs(tx: Tx, connector_ids: Sequence[str], now: datetime) -> None:
    """A sync row, due now, for each connector that has none yet."""
    if not connector_ids:
        return
    await tx.conn.execute(
        insert_ignoring(account_syncs, tx.conn.dialect.name),
        [
            {"connector_id": c, "next_run_at": now, "attempts": 0, "counts": {}, "created_at": now}
            for c in connector_ids
        ],
    )


async def sync_due_times(conn: Conn, connector_ids: Sequence[str]) -> dict[str, datetime | None]:
    """When each of the connectors' syncs is due (a running one: when its lease ends);
    a connector with no sync row yet is not in the answer."""
    rows = await _c(conn).execute(
        select(account_syncs.c.connector_id, account_syncs.c.next_run_at).where(
            account_syncs.c.connector_id.in_(list(connector_ids))
        )
    )
    return {r.connector_id: r.next_run_at for r in rows}


async def claim_syncs(
    tx: Tx,
    connector_ids: Sequence[str],
    now: datetime,
    lease_until: datetime,
    limit: int,
    lease_id: str,
) -> list[SyncRun]:
    """Lease the due syncs of `connector_ids` (a running sync's lease is its
    `next_run_at`, so it is not due; replicas skip each other's rows on PostgreSQL)."""
    c = account_syncs.c
    query = (
        select(c.connector_id, c.cursor, c.attempts)
        .where(c.connector_id.in_(list(connector_ids)), c.next_run_at <= now)
        .order_by(c.next_run_at)
        .limit(limit)
    )
    if tx.conn.dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    rows = (await tx.conn.execute(query)).all()
    if not rows:
        return []
    await tx.conn.execute(
        update(account_syncs)
        .where(c.connector_id.in_([r.connector_id for r in rows]))
        .values(next_run_at=lease_until, lease_id=lease_id, last_attempt_at=now)
    )
    return [SyncRun(r.connector_id, lease_id, r.cursor, r.attempts) for r in rows]


async def holds_lease(tx: Tx, connector_id: str, lease_id: str) -> bool:
    """Whether this run still holds the sync (locked until the transaction ends)."""
    query = select(account_syncs.c.lease_id).where(account_syncs.c.connector_id == connector_id)
    if tx.conn.dialect.name != "sqlite":
        query = query.with_for_update()
    return bool(await tx.conn.scalar(query) == lease_id)


async def save_cursor(tx: Tx, connector_id: str, cursor: str | None, lease_until: datetime) -> None:
    await tx.conn.execute(
        update(account_syncs)
        .where(account_syncs.c.connector_id == connector_id)
        .values(cursor=cursor, next_run_at=lease_until)
    )


async def end_run(
    tx: Tx,
    connector_id: str,
    lease_id: str,
    *,
    next_run_at: datetime,
    attempts: int,
    finished_at: datetime | None,
    status_code: int | None,
    error: str | None,
    counts: dict[str, int],
) -> None:
    values: dict[str, Any] = {
        "next_run_at": next_run_at,
        "lease_id": None,
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error": error,
        "counts": counts,
    }
    if finished_at is not None:
        values["last_finished_at"] = finished_at
    await tx.conn.execute(
        update(account_syncs)
        .where(account_syncs.c.connector_id == connector_id, account_syncs.c.lease_id == lease_id)
        .values(values)
    )


async def start_run(tx: Tx, connector_id: str, now: datetime) -> None:
    await tx.conn.execute(
        update(account_syncs)
        .where(account_syncs.c.connector_id == connector_id)
        .values(last_started_at=now)
    )


async def get_sync(conn: Conn, connector_id: str) -> dict[str, Any] | None:
    row = (
        await _c(conn).execute(
            select(account_syncs).where(account_syncs.c.connector_id == connector_id)
        )
    ).first()
    return dict(row._mapping) if row else None


async def request_sync(tx: Tx, connector_id: str, now: datetime, *, full: bool) -> None:
    """Make the sync due now (from the start when `full`)."""
    await ensure_syncs(tx, [connector_id], now)
    values: dict[str, Any] = {"next_run_at": now, "attempts": 0}
    if full:
        values["cursor"] = None
    await tx.conn.execute(
        update(account_syncs).where(account_syncs.c.connector_id == connector_id).values(values)
    )


async def mark_unmatched(
    tx: Tx,
    connector_id: str,
    domain: str,
    owner_id: str | None,
    external_id: str,
    name: str | None,
    now: datetime,
) -> None:
    statement = upsert(
        account_sync_unmatched,
        tx.conn.dialect.name,
        ("connector_id", "domain", "owner_id", "external_id", "name", "seen_at"),
        ("connector_id", "domain"),
    )
    await tx.conn.execute(
        statement,
        {
            "connector_id": connector_id,
            "domain": domain,
            "owner_id": owner_id,
            "external_id": external_id,
            "name": name[:300] if name else None,
            "seen_at": now,
        },
    )


async def clear_unmatched(tx: Tx, connector_id: str, domains: Sequence[str]) -> None:
    if domains:
        await tx.conn.execute(
            delete(account_sync_unmatched).where(
                account_sync_unmatched.c.connector_id == connector_id,
                account_sync_unmatched.c.domain.in_(list(domains)),
            )
        )


async def unmatched_of(
    conn: Conn, connector_id: str, owner_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The connector's accounts whose owner is one of `owner_ids` (and no rep's when they
    were read)."""
    u = account_sync_unmatched.c
    query = (
        select(account_sync_unmatched)
        .where(u.connector_id == connector_id, u.owner_id.in_(list(owner_ids)))
        .order_by(u.owner_id, u.domain)
    )
    return [dict(r._mapping) for r in (await _c(conn).execute(query)).all()]


async def unmatched_owners(
    conn: Conn, connector_id: str, owners: int = 100, domains: int = 10
) -> list[tuple[str, int, list[str]]]:
    """The CRM owners with the most unmatched accounts: (owner id, how many, some of their
    domains), at most `owners` of them."""
    u = account_sync_unmatched.c
    counted = (
        await _c(conn).execute(
            select(u.owner_id, func.count().label("n"))
            .where(u.connector_id == connector_id, u.owner_id.is_not(None))
            .group_by(u.owner_id)
            .order_by(func.count().desc(), u.owner_id)
            .limit(owners)
        )
    ).all()
    found: list[tuple[str, int, list[str]]] = []
    for row in counted:
        some = await _c(conn).scalars(
            select(u.domain)
            .where(u.connector_id == connector_id, u.owner_id == row.owner_id)
            .order_by(u.domain)
            .limit(domains)
        )
        found.append((row.owner_id, int(row.n), list(some)))
    return found


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
