"""All of ingest's SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update

from contracts.events import LeadProfile
from ingest.models import deliveries, idempotency, leads, sources
from ingest.providers.base import Source
from ingest.schemas import DeliveryOut, LeadOut
from services.db import ReadConn, Tx


@dataclass(frozen=True)
class StoredLead:
    id: str
    profile: LeadProfile


@dataclass(frozen=True)
class PendingFetch:
    delivery_id: str
    source: str
    external_id: str
    ref: dict[str, str]
    attempts: int


# --- leads --------------------------------------------------------------------------------


async def insert_lead(tx: Tx, lead_id: str, profile: LeadProfile, now: datetime) -> None:
    await tx.conn.execute(
        leads.insert().values(
            id=lead_id,
            email=profile.email,
            phone=profile.phone,
            profile=profile.model_dump(mode="json"),
            created_at=now,
            updated_at=now,
        )
    )


async def update_lead(tx: Tx, lead_id: str, profile: LeadProfile, now: datetime) -> None:
    await tx.conn.execute(
        update(leads)
        .where(leads.c.id == lead_id)
        .values(
            email=profile.email,
            phone=profile.phone,
            profile=profile.model_dump(mode="json"),
            updated_at=now,
        )
    )


async def find_person(
    tx: Tx, email: str | None, phone: str | None
) -> tuple[StoredLead, str] | None:
    """The oldest lead with this normalised email, else this E.164 phone, and which matched."""
    for column, value in (("email", email), ("phone", phone)):
        if value is None:
            continue
        row = (
            await tx.conn.execute(
                select(leads.c.id, leads.c.profile)
                .where(leads.c[column] == value)
                .order_by(leads.c.created_at)
                .limit(1)
            )
        ).first()
        if row is not None:
            return StoredLead(row.id, LeadProfile.model_validate(row.profile)), column
    return None


async def get_lead(conn: ReadConn, lead_id: str) -> LeadOut | None:
    row = (await conn.execute(select(leads).where(leads.c.id == lead_id))).first()
    if row is None:
        return None
    rows = (
        await conn.execute(
            select(deliveries)
            .where(deliveries.c.lead_id == lead_id)
            .order_by(deliveries.c.received_at, deliveries.c.id)
        )
    ).all()
    return LeadOut(
        id=row.id,
        lead=LeadProfile.model_validate(row.profile),
        created_at=row.created_at,
        deliveries=[_delivery(d) for d in rows],
    )


async def search_leads(
    conn: ReadConn, *, email: str | None, phone: str | None, external_id: str | None, limit: int
) -> list[str]:
    query = select(leads.c.id).order_by(leads.c.created_at).limit(limit)
    conditions = []
    if email:
        conditions.append(leads.c.email == email)
    if phone:
        conditions.append(leads.c.phone == phone)
    if external_id:
        conditions.append(
            leads.c.id.in_(
                select(deliveries.c.lead_id).where(deliveries.c.external_id == external_id)
            )
        )
    if not conditions:
        return []
    return list((await conn.execute(query.where(or_(*conditions)))).scalars())


# --- deliveries ---------------------------------------------------------------------------


async def insert_delivery(
    tx: Tx,
    *,
    delivery_id: str,
    lead_id: str | None,
    source: str,
    provider: str,
    external_id: str | None,
    status: str,
    received_at: datetime,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    await tx.conn.execute(
        deliveries.insert().values(
            id=delivery_id,
            lead_id=lead_id,
            source=source,
            provider=provider,
            external_id=external_id,
            status=status,
            reason=reason,
            received_at=received_at,
            payload=payload,
            attempts=0,
            next_attempt_at=next_attempt_at,
            updated_at=received_at,
        )
    )


async def delivery_by_external_id(tx: Tx, source: str, external_id: str) -> DeliveryOut | None:
    row = (
        await tx.conn.execute(
            select(deliveries).where(
                deliveries.c.source == source, deliveries.c.external_id == external_id
            )
        )
    ).first()
    return _delivery(row) if row else None


async def set_delivery(tx: Tx, delivery_id: str, **values: Any) -> None:
    await tx.conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(updated_at=tx.now(), **values)
    )


async def claim_pending(
    tx: Tx, now: datetime, lease_until: datetime, limit: int
) -> list[PendingFetch]:
    """Pending fetches that are due, leased to this worker until `lease_until`."""
    query = (
        select(
            deliveries.c.id,
            deliveries.c.source,
            deliveries.c.external_id,
            deliveries.c.payload,
            deliveries.c.attempts,
        )
        .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
    )
    if not tx.unit.database.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    rows = (await tx.conn.execute(query)).all()
    if rows:
        await tx.conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_([r.id for r in rows]))
            .values(next_attempt_at=lease_until)
        )
    return [
        PendingFetch(
            r.id, r.source, r.external_id, dict((r.payload or {}).get("ref", {})), r.attempts
        )
        for r in rows
    ]


async def list_deliveries(conn: ReadConn, status: str | None, limit: int) -> list[DeliveryOut]:
    query = select(deliveries).order_by(deliveries.c.received_at.desc()).limit(limit)
    if status:
        query = query.where(deliveries.c.status == status)
    return [_delivery(r) for r in (await conn.execute(query)).all()]


def _delivery(row: Any) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        lead_id=row.lead_id,
        source=row.source,
        provider=row.provider,
        external_id=row.external_id,
        status=row.status,
        reason=row.reason,
        received_at=row.received_at,
        attempts=row.attempts or 0,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
    )


# --- sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredSource:
    source: Source
    created_at: datetime
    updated_at: datetime


def _source(row: Any) -> StoredSource:
    return StoredSource(
        Source(
            name=row.name,
            provider=row.provider,
            secrets={k: tuple(v) for k, v in row.secrets.items()},
            settings=row.settings,
            api_base_url=row.api_base_url,
            source_class=row.source_class,
            campaign=row.campaign,
        ),
        row.created_at,
        row.updated_at,
    )


async def get_source(conn: ReadConn | Tx, name: str) -> StoredSource | None:
    c = conn.conn if isinstance(conn, Tx) else conn
    row = (await c.execute(select(sources).where(sources.c.name == name))).first()
    return _source(row) if row else None


async def list_sources(conn: ReadConn) -> list[StoredSource]:
    return [
        _source(r) for r in (await conn.execute(select(sources).order_by(sources.c.name))).all()
    ]


async def put_source(tx: Tx, source: Source) -> StoredSource:
    now = tx.now()
    values = {
        "provider": source.provider,
        "secrets": {k: list(v) for k, v in source.secrets.items()},
        "settings": dict(source.settings),
        "api_base_url": source.api_base_url,
        "source_class": source.source_class,
        "campaign": source.campaign,
        "updated_at": now,
    }
    existing = await get_source(tx, source.name)
    if existing is None:
        await tx.conn.execute(sources.insert().values(name=source.name, created_at=now, **values))
        return StoredSource(source, now, now)
    await tx.conn.execute(update(sources).where(sources.c.name == source.name).values(**values))
    return StoredSource(source, existing.created_at, now)


# --- idempotency keys ---------------------------------------------------------------------


async def idempotent_response(tx: Tx, key: str) -> tuple[str, int, dict[str, Any]] | None:
    row = (await tx.conn.execute(select(idempotency).where(idempotency.c.key == key))).first()
    return (row.request_hash, row.status_code, row.response) if row else None


async def remember_response(
    tx: Tx, key: str, request_hash: str, status: int, response: dict[str, Any]
) -> None:
    await tx.conn.execute(
        idempotency.insert().values(
            key=key,
            request_hash=request_hash,
            status_code=status,
            response=response,
            created_at=tx.now(),
        )
    )
