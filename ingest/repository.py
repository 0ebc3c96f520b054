"""All of ingest's SQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Text, bindparam, cast, delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from contracts.events import LeadProfile
from ingest.models import deliveries, idempotency, leads, sources, webhook_replays
from ingest.providers.base import Source
from ingest.records import CapturedLead, Delivery, DeliveryText, PendingFetch, StoredSource
from services.crypto import SecretBox
from services.db import Conn, ReadConn, Tx, connection_of
from services.reference import bump

# --- leads --------------------------------------------------------------------------------
# (A round of writes reads and writes leads, deliveries, replay records and idempotency
# answers through ingest/roundstore.py.)


async def get_lead(conn: ReadConn, lead_id: str) -> CapturedLead | None:
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
    return CapturedLead(
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


async def delivery_by_external_id(tx: Tx, source: str, external_id: str) -> Delivery | None:
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
    tx: Tx,
    now: datetime,
    lease_until: datetime,
    limit: int,
    *,
    per_source: int | None = None,
    in_flight: Mapping[str, int] | None = None,
) -> list[PendingFetch]:
    """Pending fetches that are due, leased to this worker until `lease_until`. With
    `per_source`, no source gets more than that many counting those already `in_flight`."""
    in_flight = in_flight or {}
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
        .limit(limit if per_source is None else limit * 4)
    )
    if per_source is not None:
        full = [s for s, n in in_flight.items() if n >= per_source]
        if full:
            query = query.where(deliveries.c.source.not_in(full))
    if not tx.unit.database.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    rows = list((await tx.conn.execute(query)).all())
    if per_source is not None:
        taken = Counter(in_flight)
        chosen: list[Any] = []
        for row in rows:
            if len(chosen) < limit and taken[row.source] < per_source:
                taken[row.source] += 1
                chosen.append(row)
        rows = chosen
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


async def list_deliveries(conn: ReadConn, status: str | None, limit: int) -> list[Delivery]:
    query = select(deliveries).order_by(deliveries.c.received_at.desc()).limit(limit)
    if status:
        query = query.where(deliveries.c.status == status)
    return [_delivery(r) for r in (await conn.execute(query)).all()]


def _delivery(row: Any) -> Delivery:
    return Delivery(
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


def _source(row: Any, box: SecretBox) -> StoredSource:
    previous = {k: datetime.fromisoformat(v) for k, v in (row.secrets_previous_until or {}).items()}
    return StoredSource(
        Source(
            name=row.name,
            provider=row.provider,
            secrets={k: tuple(box.open(x) for x in v) for k, v in row.secrets.items()},
            settings=row.settings,
            api_base_url=row.api_base_url,
            source_class=row.source_class,
            campaign=row.campaign,
        ),
        row.created_at,
        row.updated_at,
        previous,
    )


async def get_source(conn: Conn, name: str, box: SecretBox) -> StoredSource | None:
    c = connection_of(conn)
    row = (await c.execute(select(sources).where(sources.c.name == name))).first()
    return _source(row, box) if row else None


async def list_sources(conn: ReadConn, box: SecretBox) -> list[StoredSource]:
    return [
        _source(r, box)
        for r in (await conn.execute(select(sources).order_by(sources.c.name))).all()
    ]


async def reseal_sources(tx: Tx, box: SecretBox) -> int:
    """Seal, with the first key, every stored secret value that is plain or sealed with
    another key; returns how many sources changed."""
    changed = 0
    for row in (await tx.conn.execute(select(sources.c.name, sources.c.secrets))).all():
        resealed = {k: [box.resealed(x) for x in v] for k, v in row.secrets.items()}
        if any(x is not None for v in resealed.values() for x in v):
            secrets = {
                k: [new or old for new, old in zip(resealed[k], v, strict=True)]
                for k, v in row.secrets.items()
            }
            await tx.conn.execute(
                update(sources).where(sources.c.name == row.name).values(secrets=secrets)
            )
            changed += 1
    if changed:  # the values open to the same secrets; bumped all the same, as every write
        await bump(tx, "sources")
    return changed


async def source_names(conn: ReadConn) -> set[str]:
    return set((await conn.execute(select(sources.c.name))).scalars())


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


async def put_source(
    tx: Tx, source: Source, box: SecretBox, previous_until: Mapping[str, datetime] | None = None
) -> StoredSource:
    """Create or replace a source; `previous_until` says when the previous value of each
    rotated secret expires (none: every value given stays valid). Bumps the sources'
    version in the same transaction (every replica's copy in memory reloads)."""
    await bump(tx, "sources")
    now = tx.now()
    if not tx.unit.database.is_sqlite:
        # Two PUTs of one new source at once would both find none and both insert: the
        # second waits here instead, and replaces what the first stored.
        await tx.conn.execute(_ADVISORY_LOCK, {"key": f"ingest.source:{source.name}"})
    until = dict(previous_until or {})
    values = {
        "provider": source.provider,
        "secrets": {k: [box.seal(x) for x in v] for k, v in source.secrets.items()},
        "secrets_previous_until": {k: v.isoformat() for k, v in until.items()},
        "settings": dict(source.settings),
        "api_base_url": source.api_base_url,
        "source_class": source.source_class,
        "campaign": source.campaign,
        "updated_at": now,
    }
    existing = await get_source(tx, source.name, box)
    if existing is None:
        await tx.conn.execute(sources.insert().values(name=source.name, created_at=now, **values))
        return StoredSource(source, now, now, until)
    await tx.conn.execute(update(sources).where(sources.c.name == source.name).values(**values))
    return StoredSource(source, existing.created_at, now, until)


# --- replay protection --------------------------------------------------------------------


async def purge_signatures(tx: Tx) -> None:
    """Drop the expired records of signed deliveries (of every source)."""
    await tx.conn.execute(_PURGE_SIGNATURES, {"now": tx.now()})


@cache
def remember_signature_statement(dialect: str) -> Insert:
    """Record a signed delivery (source, SHA-256 of its signature, expires_at); an expired
    record of the same signature is taken over (`purge_signatures` drops the others now
    and then). Executed by ingest/roundstore.py with the round's other writes."""
    statement = (
        postgresql.insert(webhook_replays)
        if dialect == "postgresql"
        else (sqlite.insert(webhook_replays))
    )
    return statement.on_conflict_do_update(
        index_elements=["source", "signature"],
        set_={"expires_at": statement.excluded.expires_at},
        where=webhook_replays.c.expires_at <= bindparam("now"),
    )


_PURGE_SIGNATURES = delete(webhook_replays).where(webhook_replays.c.expires_at <= bindparam("now"))


# --- idempotency keys ---------------------------------------------------------------------


@cache
def remember_answer_statement(dialect: str) -> Insert:
    """Remember the answer to an Idempotency-Key; a remembered answer older than the window
    (`stale_before`, not purged yet) is taken over. Executed by ingest/roundstore.py with
    the round's other writes."""
    statement = (
        postgresql.insert(idempotency) if dialect == "postgresql" else sqlite.insert(idempotency)
    )
    return statement.on_conflict_do_update(
        index_elements=["key"],
        set_={
            column: statement.excluded[column]
            for column in ("request_hash", "status_code", "response", "created_at")
        },
        where=idempotency.c.created_at <= bindparam("stale_before"),
    )


_PURGE_ANSWERS = delete(idempotency).where(idempotency.c.created_at <= bindparam("stale_before"))


async def purge_answers(tx: Tx, stale_before: datetime) -> None:
    """Drop the answers remembered before `stale_before` (their keys are free again)."""
    await tx.conn.execute(_PURGE_ANSWERS, {"stale_before": stale_before})


# --- erasure ------------------------------------------------------------------------------


async def lead_profile_json(tx: Tx, lead_id: str) -> dict[str, Any] | None:
    row = (await tx.conn.execute(select(leads.c.profile).where(leads.c.id == lead_id))).first()
    return dict(row.profile) if row is not None else None


async def anonymise_lead(tx: Tx, lead_id: str, profile: dict[str, Any]) -> int:
    """Keep the lead's row (its id, source and times) without its email, phone or profile's
    personal fields: nothing can match the person again."""
    result = await tx.conn.execute(
        update(leads)
        .where(leads.c.id == lead_id)
        .values(email=None, phone=None, profile=profile, updated_at=tx.now())
    )
    return int(result.rowcount)


async def delivery_texts(tx: Tx, lead_id: str) -> list[DeliveryText]:
    rows = await tx.conn.execute(
        select(
            deliveries.c.id, deliveries.c.payload, deliveries.c.reason, deliveries.c.last_error
        ).where(deliveries.c.lead_id == lead_id)
    )
    return [DeliveryText(r.id, r.payload, r.reason, r.last_error) for r in rows]


async def erase_delivery(
    tx: Tx, delivery_id: str, reason: str | None, last_error: str | None
) -> None:
    """Drop a delivery's raw fields and the provider's lead id (a re-sent delivery is then a
    new lead); its status, source and times stay."""
    await tx.conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(payload=None, external_id=None, reason=reason, last_error=last_error)
    )


async def forget_idempotency(tx: Tx, lead_id: str) -> int:
    """Delete the remembered answers that name the lead (a retry then makes a new lead)."""
    result = await tx.conn.execute(
        delete(idempotency).where(cast(idempotency.c.response, Text).contains(lead_id))
    )
    return int(result.rowcount)
