"""All of nurture's SQL. Reads take a `ReadConn` or a `Tx`; writes take a `Tx`. Nothing here
commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.events import LeadProfile
from nurture.models import (
    api_templates,
    api_tracks,
    consents,
    engagements,
    enrolments,
    erased,
    keys,
    leads,
    messages,
    suppressions,
    tasks,
)
from services import erasure
from services.crypto import SecretBox
from services.db import ReadConn, Tx
from services.statements import insert_ignoring

Conn = ReadConn | Tx
PENDING_MESSAGES = ("queued", "sending")


def _c(conn: Conn) -> AsyncConnection:
    return conn.conn if isinstance(conn, Tx) else conn


# --- leads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadRow:
    lead_id: str
    email_hash: str | None
    profile: LeadProfile
    recycled_at: datetime | None


def _lead(row: Any) -> LeadRow:
    return LeadRow(
        row.lead_id, row.email_hash, LeadProfile.model_validate(row.profile), row.recycled_at
    )


async def get_lead(conn: Conn, lead_id: str) -> LeadRow | None:
    row = (await _c(conn).execute(select(leads).where(leads.c.lead_id == lead_id))).first()
    return _lead(row) if row else None


async def put_lead(
    tx: Tx, lead_id: str, email_hash: str | None, profile: LeadProfile, now: datetime
) -> None:
    values = {
        "email_hash": email_hash,
        "profile": profile.model_dump(mode="json"),
        "updated_at": now,
    }
    result = await tx.conn.execute(update(leads).where(leads.c.lead_id == lead_id).values(values))
    if result.rowcount == 0:
        await tx.conn.execute(leads.insert().values(lead_id=lead_id, **values))


async def set_recycled(tx: Tx, lead_id: str, at: datetime) -> None:
    await tx.conn.execute(update(leads).where(leads.c.lead_id == lead_id).values(recycled_at=at))


async def leads_by_email_hash(conn: Conn, email_hash: str) -> list[str]:
    rows = await _c(conn).execute(select(leads.c.lead_id).where(leads.c.email_hash == email_hash))
    return [r.lead_id for r in rows]


# --- enrolments ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolmentRow:
    id: str
    lead_id: str
    track: str
    reason: str
    status: str
    step: int
    enrolled_at: datetime
    next_touch_at: datetime | None
    trigger: str | None
    timezone: str | None
    last_touch_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None


def _enrolment(row: Any) -> EnrolmentRow:
    return EnrolmentRow(**{c.name: getattr(row, c.name) for c in enrolments.columns})


async def get_enrolment(conn: Conn, enrolment_id: str) -> EnrolmentRow | None:
    row = (
        await _c(conn).execute(select(enrolments).where(enrolments.c.id == enrolment_id))
    ).first()
    return _enrolment(row) if row else None


async def active_enrolment(conn: Conn, lead_id: str) -> EnrolmentRow | None:
    query = select(enrolments).where(
        enrolments.c.lead_id == lead_id, enrolments.c.status == "active"
    )
    row = (await _c(conn).execute(query)).first()
    return _enrolment(row) if row else None


async def active_enrolments(conn: Conn, lead_ids: Collection[str]) -> list[EnrolmentRow]:
    """The active enrolments of these leads (one read for a batch)."""
    rows = await _c(conn).execute(_ACTIVE_OF, {"lead_ids": sorted(set(lead_ids))})
    return [_enrolment(row) for row in rows]


_ACTIVE_OF = select(enrolments).where(
    enrolments.c.lead_id.in_(bindparam("lead_ids", expanding=True)),
    enrolments.c.status == "active",
)


async def latest_enrolment(conn: Conn, lead_id: str) -> EnrolmentRow | None:
    query = (
        select(enrolments)
        .where(enrolments.c.lead_id == lead_id)
        .order_by(enrolments.c.enrolled_at.desc(), enrolments.c.id.desc())
        .limit(1)
    )
    row = (await _c(conn).execute(query)).first()
    return _enrolment(row) if row else None


async def insert_enrolment(tx: Tx, **values: Any) -> None:
    await tx.conn.execute(enrolments.insert().values(**values))


async def update_enrolment(tx: Tx, enrolment_id: str, **values: Any) -> None:
    await tx.conn.execute(update(enrolments).where(enrolments.c.id == enrolment_id).values(values))


async def count_active_on(conn: Conn, track: str) -> int:
    query = select(func.count()).where(enrolments.c.track == track, enrolments.c.status == "active")
    return int(await _c(conn).scalar(query) or 0)


# --- consent and suppression --------------------------------------------------------------


async def explicit_consent(conn: Conn, email_hash: str) -> str | None:
    query = select(consents.c.basis).where(consents.c.email_hash == email_hash)
    value = await _c(conn).scalar(query)
    return str(value) if value is not None else None


async def put_consent(tx: Tx, email_hash: str, basis: str, evidence: str, now: datetime) -> None:
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


@dataclass(frozen=True)
class SuppressionRow:
    email_hash: str
    reason: str
    detail: str | None
    track: str | None
    created_at: datetime


async def suppression(conn: Conn, email_hash: str) -> SuppressionRow | None:
    query = select(suppressions).where(suppressions.c.email_hash == email_hash)
    row = (await _c(conn).execute(query)).first()
    if row is None:
        return None
    return SuppressionRow(row.email_hash, row.reason, row.detail, row.track, row.created_at)


# A later reason replaces an earlier one only when it is at least as strong.
STRENGTH = {"manual": 0, "unsubscribed": 1, "complaint": 2, "hard_bounce": 2, "erased": 3}


async def suppress(
    tx: Tx, email_hash: str, reason: str, detail: str | None, track: str | None, now: datetime
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


async def unsuppress(tx: Tx, email_hash: str, reasons: Sequence[str] | None = None) -> bool:
    query = delete(suppressions).where(suppressions.c.email_hash == email_hash)
    if reasons is not None:
        query = query.where(suppressions.c.reason.in_(list(reasons)))
    return bool((await tx.conn.execute(query)).rowcount)


async def list_suppressions(conn: Conn, limit: int, offset: int) -> list[SuppressionRow]:
    query = (
        select(suppressions)
        .order_by(suppressions.c.created_at.desc(), suppressions.c.email_hash)
        .limit(limit)
        .offset(offset)
    )
    return [
        SuppressionRow(r.email_hash, r.reason, r.detail, r.track, r.created_at)
        for r in (await _c(conn).execute(query)).all()
    ]


# --- messages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageRow:
    id: str
    enrolment_id: str
    lead_id: str
    track: str
    step: int
    day: int
    template: str | None
    email_hash: str | None
    to_address: str | None
    subject: str | None
    text_body: str | None
    html_body: str | None
    unsubscribe_url: str | None
    consent_basis: str | None
    status: str
    reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    lease_until: datetime | None
    last_error: str | None
    provider_id: str | None
    created_at: datetime
    sent_at: datetime | None


def _message(row: Any) -> MessageRow:
    return MessageRow(**{c.name: getattr(row, c.name) for c in messages.columns})


async def insert_message(tx: Tx, **values: Any) -> None:
    await tx.conn.execute(messages.insert().values(**values))


async def get_message(
    conn: Conn, message_id: str, *, for_update: bool = False
) -> MessageRow | None:
    query = select(messages).where(messages.c.id == message_id)
    if for_update and isinstance(conn, Tx) and not conn.unit.database.is_sqlite:
        query = query.with_for_update()
    row = (await _c(conn).execute(query)).first()
    return _message(row) if row else None


def _due(now: datetime) -> Any:
    return or_(
        (messages.c.status == "queued") & (messages.c.next_attempt_at <= now),
        (messages.c.status == "sending") & (messages.c.lease_until <= now),
    )


async def has_due_messages(conn: Conn, now: datetime) -> bool:
    found = await _c(conn).scalar(select(messages.c.id).where(_due(now)).limit(1))
    return found is not None


async def claim_messages(
    tx: Tx, now: datetime, lease_until: datetime, limit: int
) -> list[MessageRow]:
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


async def messages_for_lead(conn: Conn, lead_id: str, limit: int) -> list[MessageRow]:
    query = (
        select(messages)
        .where(messages.c.lead_id == lead_id)
        .order_by(messages.c.created_at.desc(), messages.c.step.desc())
        .limit(limit)
    )
    return [_message(r) for r in (await _c(conn).execute(query)).all()]


# --- tasks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRow:
    id: str
    enrolment_id: str
    lead_id: str
    track: str
    step: int
    day: int
    title: str
    note: str | None
    status: str
    created_at: datetime
    completed_at: datetime | None
    outcome: str | None


def _task(row: Any) -> TaskRow:
    return TaskRow(**{c.name: getattr(row, c.name) for c in tasks.columns})


async def insert_task(tx: Tx, **values: Any) -> None:
    await tx.conn.execute(tasks.insert().values(**values))


async def get_task(conn: Conn, task_id: str) -> TaskRow | None:
    row = (await _c(conn).execute(select(tasks).where(tasks.c.id == task_id))).first()
    return _task(row) if row else None


async def set_task(tx: Tx, task_id: str, **values: Any) -> None:
    await tx.conn.execute(update(tasks).where(tasks.c.id == task_id).values(values))


async def cancel_open_tasks(tx: Tx, enrolment_id: str, reason: str) -> int:
    result = await tx.conn.execute(
        update(tasks)
        .where(tasks.c.enrolment_id == enrolment_id, tasks.c.status == "open")
        .values(status="cancelled", outcome=reason)
    )
    return int(result.rowcount)


async def list_tasks(
    conn: Conn, status: str | None, lead_id: str | None, limit: int
) -> list[TaskRow]:
    query = select(tasks).order_by(tasks.c.created_at, tasks.c.id).limit(limit)
    if status:
        query = query.where(tasks.c.status == status)
    if lead_id:
        query = query.where(tasks.c.lead_id == lead_id)
    return [_task(r) for r in (await _c(conn).execute(query)).all()]


async def tasks_for_lead(conn: Conn, lead_id: str, limit: int) -> list[TaskRow]:
    return await list_tasks(conn, None, lead_id, limit)


# --- engagements --------------------------------------------------------------------------


@dataclass(frozen=True)
class EngagementRow:
    id: str
    lead_id: str
    enrolment_id: str | None
    type: str
    points: float
    hand_raise: bool
    at: datetime
    recorded_at: datetime
    message_id: str | None
    url: str | None
    timeframe_days: int | None
    detail: dict[str, Any] | None
    external_id: str | None


def _engagement(row: Any) -> EngagementRow:
    return EngagementRow(**{c.name: getattr(row, c.name) for c in engagements.columns})


async def insert_engagement(tx: Tx, **values: Any) -> None:
    await tx.conn.execute(engagements.insert().values(**values))


async def engagement_by_external_id(conn: Conn, external_id: str) -> EngagementRow | None:
    query = select(engagements).where(engagements.c.external_id == external_id)
    row = (await _c(conn).execute(query)).first()
    return _engagement(row) if row else None


async def engagements_since(
    conn: Conn, lead_id: str, since: datetime | None, limit: int = 500
) -> list[EngagementRow]:
    """The lead's engagements after `since` (all when None), newest first."""
    query = (
        select(engagements)
        .where(engagements.c.lead_id == lead_id)
        .order_by(engagements.c.at.desc(), engagements.c.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(engagements.c.recorded_at > since)
    return [_engagement(r) for r in (await _c(conn).execute(query)).all()]


# --- tracks and templates put through the API ---------------------------------------------


@dataclass(frozen=True)
class StoredDefinition:
    id: str
    definition: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    changed_by: str | None = None
    """The API key that made the last change (none: before it was recorded)."""
    changed_by_name: str | None = None


async def api_definitions(conn: Conn, kind: str) -> list[StoredDefinition]:
    table = api_tracks if kind == "track" else api_templates
    rows = (await _c(conn).execute(select(table).order_by(table.c.id))).all()
    return [
        StoredDefinition(
            r.id,
            dict(r.definition),
            r.version,
            r.created_at,
            r.updated_at,
            r.changed_by,
            r.changed_by_name,
        )
        for r in rows
    ]


async def put_api_definition(
    tx: Tx,
    kind: str,
    item_id: str,
    definition: dict[str, Any],
    now: datetime,
    by: tuple[str, str | None],
) -> StoredDefinition:
    """Store a track or template; `by` is the API key's id and name."""
    table = api_tracks if kind == "track" else api_templates
    row = (await tx.conn.execute(select(table).where(table.c.id == item_id))).first()
    key_id, name = by
    if row is None:
        await tx.conn.execute(
            table.insert().values(
                id=item_id,
                definition=definition,
                version=1,
                created_at=now,
                updated_at=now,
                changed_by=key_id,
                changed_by_name=name,
            )
        )
        return StoredDefinition(item_id, definition, 1, now, now, key_id, name)
    version = row.version + 1
    await tx.conn.execute(
        update(table)
        .where(table.c.id == item_id)
        .values(
            definition=definition,
            version=version,
            updated_at=now,
            changed_by=key_id,
            changed_by_name=name,
        )
    )
    return StoredDefinition(item_id, definition, version, row.created_at, now, key_id, name)


async def delete_api_definition(tx: Tx, kind: str, item_id: str) -> bool:
    table = api_tracks if kind == "track" else api_templates
    return bool((await tx.conn.execute(delete(table).where(table.c.id == item_id))).rowcount)


# --- the link-signing key -----------------------------------------------------------------

SIGNING_KEY = "link-signing"


async def signing_key(conn: Conn) -> str | None:
    value = await _c(conn).scalar(select(keys.c.value).where(keys.c.name == SIGNING_KEY))
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


# --- statistics ---------------------------------------------------------------------------


async def enrolments_by_step(conn: Conn, track: str) -> dict[tuple[int, str], int]:
    """Enrolments on the track by (steps done, status)."""
    rows = await _c(conn).execute(
        select(enrolments.c.step, enrolments.c.status, func.count())
        .where(enrolments.c.track == track)
        .group_by(enrolments.c.step, enrolments.c.status)
    )
    return {(int(step), str(status)): int(n) for step, status, n in rows}


async def track_stats(conn: Conn, track: str) -> dict[str, int]:
    c = _c(conn)
    by_status: dict[str, int] = {
        str(status): int(n)
        for status, n in await c.execute(
            select(enrolments.c.status, func.count())
            .where(enrolments.c.track == track)
            .group_by(enrolments.c.status)
        )
    }
    by_message: dict[str, int] = {
        str(status): int(n)
        for status, n in await c.execute(
            select(messages.c.status, func.count())
            .where(messages.c.track == track)
            .group_by(messages.c.status)
        )
    }
    task_count = await c.scalar(select(func.count()).where(tasks.c.track == track))
    touched_ids = union(
        select(messages.c.enrolment_id).where(
            messages.c.track == track, messages.c.status == "sent"
        ),
        select(tasks.c.enrolment_id).where(tasks.c.track == track),
    ).subquery()
    touched = await c.scalar(select(func.count()).select_from(touched_ids))
    engaged = await c.scalar(
        select(func.count(func.distinct(engagements.c.enrolment_id))).where(
            engagements.c.enrolment_id.in_(
                select(enrolments.c.id).where(enrolments.c.track == track)
            )
        )
    )
    unsubscribed = await c.scalar(
        select(func.count()).where(
            suppressions.c.track == track, suppressions.c.reason == "unsubscribed"
        )
    )
    return {
        "enrolled": sum(int(v) for v in by_status.values()),
        "active": int(by_status.get("active", 0)),
        "completed": int(by_status.get("completed", 0)),
        "recycled": int(by_status.get("recycled", 0)),
        "exited": int(by_status.get("exited", 0)),
        "touched": int(touched or 0),
        "emails_sent": int(by_message.get("sent", 0)),
        "emails_skipped": int(by_message.get("skipped", 0)),
        "emails_bounced": int(by_message.get("bounced", 0)),
        "emails_failed": int(by_message.get("failed", 0)),
        "emails_cancelled": int(by_message.get("cancelled", 0)),
        "emails_pending": int(by_message.get("queued", 0)) + int(by_message.get("sending", 0)),
        "tasks": int(task_count or 0),
        "engaged": int(engaged or 0),
        "unsubscribed": int(unsubscribed or 0),
    }


# --- erasure ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erased:
    enrolment_ids: list[str]
    message_ids: list[str]
    counts: dict[str, int]


async def erase(tx: Tx, lead_ids: Sequence[str], email_hashes: Sequence[str]) -> Erased:
    """Delete everything nurture keeps about these leads and addresses (the suppression
    list is the caller's business)."""
    ids = list(lead_ids)
    hashes = list(email_hashes)
    enrolment_ids = [
        r.id
        for r in await tx.conn.execute(select(enrolments.c.id).where(enrolments.c.lead_id.in_(ids)))
    ]
    message_ids = [
        r.id
        for r in await tx.conn.execute(
            select(messages.c.id).where(
                or_(messages.c.lead_id.in_(ids), messages.c.email_hash.in_(hashes))
            )
        )
    ]
    statements = {
        "enrolments": delete(enrolments).where(enrolments.c.id.in_(enrolment_ids)),
        "messages": delete(messages).where(messages.c.id.in_(message_ids)),
        "tasks": delete(tasks).where(tasks.c.lead_id.in_(ids)),
        "engagements": delete(engagements).where(engagements.c.lead_id.in_(ids)),
        "consents": delete(consents).where(consents.c.email_hash.in_(hashes)),
        "leads": delete(leads).where(leads.c.lead_id.in_(ids)),
    }
    counts: dict[str, int] = {}
    for name, statement in statements.items():
        counts[name] = int((await tx.conn.execute(statement)).rowcount)
    return Erased(enrolment_ids, message_ids, counts)


async def profile_json(tx: Tx, lead_id: str) -> dict[str, Any] | None:
    row = (await tx.conn.execute(select(leads.c.profile).where(leads.c.lead_id == lead_id))).first()
    return dict(row.profile) if row is not None else None


async def is_erased(tx: Tx, lead_id: str) -> bool:
    return await erasure.tombstoned(tx, erased, lead_id)


async def erased_among(tx: Tx, lead_ids: Collection[str]) -> set[str]:
    return await erasure.tombstoned_among(tx, erased, lead_ids)


async def put_tombstone(tx: Tx, lead_id: str, erasure_id: str) -> None:
    await erasure.put_tombstone(tx, erased, lead_id, erasure_id)
