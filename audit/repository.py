"""All of audit's SQL. Functions take a `Tx` (writes, and reads inside a write) or a
`ReadConn`; none commits.

A consumer's run of events is written per table, not per event: one multi-row insert of
the archive rows, one upsert of the lead rows, one of the reps, one insert of the new
assignments. Projections are written so that events handled concurrently by two replicas
(one lead's events arrive on several topics) cannot lose each other's updates: inserts
ignore conflicts, and the lead rows are merged ("earliest", "latest", "furthest") in SQL
from the stored values rather than read-modify-write in Python. Only which assignment ends
when is decided from a read, and a lead's assignments all come from the router's topic,
keyed by the lead, so from one consumer in order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from audit.models import (
    assignments,
    deals,
    erasure_confirmations,
    erasures,
    events,
    forecast,
    lead_contacts,
    leads,
    removal_requests,
    reps,
    roles,
    satisfaction_audits,
    spend,
)
from audit.projection import MILESTONES, Assignment, LeadChange
from audit.reports.facts import AssignmentFact, AuditFact, DealFact, LeadFact, SpendFact
from services import erasure
from services.db import ReadConn, Tx
from services.sqltypes import UTCDateTime
from services.statements import insert_ignoring
from services.tables import api_keys

Conn = ReadConn | Tx


def _c(conn: Conn) -> AsyncConnection:
    return conn.conn if isinstance(conn, Tx) else conn


def _at(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def _earliest(column: Any, value: datetime) -> ColumnElement[Any]:
    return case((or_(column.is_(None), column > _at(value)), _at(value)), else_=column)


async def _insert_ignore(tx: Tx, table: Table, values: dict[str, Any]) -> bool:
    """Insert unless the primary or a unique key exists; True when a row was written."""
    result = await tx.conn.execute(insert_ignoring(table, tx.conn.dialect.name), values)
    return bool(result.rowcount == 1)


# --- the archive ----------------------------------------------------------------------------


@cache
def _archive_statement(dialect: str) -> Insert:
    return insert_ignoring(events, dialect).returning(events.c.event_id)


async def archive(tx: Tx, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Store a run of events, each once: one multi-row INSERT that skips the events stored
    before. Returns the ids of the events it stored."""
    if not rows:
        return set()
    result = await tx.conn.execute(_archive_statement(tx.conn.dialect.name), list(rows))
    return {row.event_id for row in result}


async def erased_among(tx: Tx, lead_ids: Collection[str]) -> set[str]:
    """Which of `lead_ids` were erased (one read)."""
    return await erasure.tombstoned_among(tx, erasures, lead_ids) if lead_ids else set()


async def timeline(conn: ReadConn, lead_id: str) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            select(events.c.envelope)
            .where(events.c.lead_id == lead_id)
            .order_by(events.c.time, events.c.position)
        )
    ).all()
    return [r.envelope for r in rows]


async def archived_events(
    conn: ReadConn,
    types: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[datetime, int, dict[str, Any]]]:
    """Archived events of these types whose time is in [since, until), not redacted, in
    time order (then archive order), after the keyset `after` (time, position)."""
    query = select(events.c.time, events.c.position, events.c.envelope).where(
        events.c.type.in_(list(types)),
        events.c.time >= since,
        events.c.time < until,
        events.c.redacted_at.is_(None),
    )
    if after is not None:
        at, position = after
        query = query.where(
            or_(events.c.time > at, and_(events.c.time == at, events.c.position > position))
        )
    rows = (await conn.execute(query.order_by(events.c.time, events.c.position).limit(limit))).all()
    return [(r.time, r.position, r.envelope) for r in rows]


async def count_archived_events(
    conn: ReadConn, types: Sequence[str], since: datetime, until: datetime
) -> int:
    query = select(func.count()).where(
        events.c.type.in_(list(types)),
        events.c.time >= since,
        events.c.time < until,
        events.c.redacted_at.is_(None),
    )
    return int((await conn.execute(query)).scalar_one())


async def envelopes_of(tx: Tx, lead_id: str) -> list[tuple[int, dict[str, Any]]]:
    rows = (
        await tx.conn.execute(
            select(events.c.position, events.c.envelope)
            .where(events.c.lead_id == lead_id)
            .order_by(events.c.position)
        )
    ).all()
    return [(r.position, r.envelope) for r in rows]


async def replace_envelope(tx: Tx, position: int, envelope: dict[str, Any]) -> None:
    await tx.conn.execute(
        update(events)
        .where(events.c.position == position)
        .values(envelope=envelope, redacted_at=tx.now())
    )


async def count_events(conn: Conn, lead_id: str | None = None) -> int:
    query = select(func.count()).select_from(events)
    if lead_id is not None:
        query = query.where(events.c.lead_id == lead_id)
    return int(await _c(conn).scalar(query) or 0)


# --- the lead read model --------------------------------------------------------------------


@cache
def _upsert_leads(dialect: str) -> Insert:
    """INSERT of a run's change to each lead's row, or on a conflict its merge into the
    stored row, column by column as `audit.projection` folds them (its docstring has the
    table). Everything is computed from the stored values, in one statement per run."""
    statement = pg_insert(leads) if dialect == "postgresql" else sqlite_insert(leads)
    said = statement.excluded

    def earliest(column: str) -> ColumnElement[Any]:
        stored = leads.c[column]
        earlier = and_(said[column].is_not(None), or_(stored.is_(None), stored > said[column]))
        return case((earlier, said[column]), else_=stored)

    earlier_assignment = and_(
        said.assigned_at.is_not(None),
        or_(leads.c.assigned_at.is_(None), leads.c.assigned_at > said.assigned_at),
    )
    merge: dict[str, Any] = {
        "first_seen_at": earliest("first_seen_at"),
        **{c: func.coalesce(leads.c[c], said[c]) for c in ("source", "source_class", "campaign")},
        "is_test": or_(leads.c.is_test, said.is_test),
        **{c: func.coalesce(said[c], leads.c[c]) for c in ("timeframe_days", "term", "rep_id")},
        "stage_rank": case(
            (leads.c.stage_rank < said.stage_rank, said.stage_rank), else_=leads.c.stage_rank
        ),
        "assigned_at": case((earlier_assignment, said.assigned_at), else_=leads.c.assigned_at),
        "first_touch_due_at": case(
            (earlier_assignment, said.first_touch_due_at), else_=leads.c.first_touch_due_at
        ),
        "touches": leads.c.touches + said.touches,
        **{c: earliest(c) for c in MILESTONES},
    }
    return statement.on_conflict_do_update(index_elements=[leads.c.lead_id], set_=merge)


async def upsert_leads(tx: Tx, changes: Sequence[LeadChange]) -> None:
    """Merge each change into its lead's row, creating the row on the lead's first event
    (which may come from any service: topics are not ordered with each other)."""
    if changes:
        statement = _upsert_leads(tx.conn.dialect.name)
        await tx.conn.execute(statement, [change.row() for change in changes])


async def mark_erased(tx: Tx, lead_id: str, at: datetime) -> None:
    await tx.conn.execute(update(leads).where(leads.c.lead_id == lead_id).values(erased_at=at))


@dataclass(frozen=True)
class LeadRow:
    lead_id: str
    source: str | None
    source_class: str | None
    campaign: str | None
    is_test: bool
    timeframe_days: int | None
    first_seen_at: datetime
    captured_at: datetime | None
    stage_rank: int
    term: str | None
    qualified_at: datetime | None
    disqualified_at: datetime | None
    rep_id: str | None
    assigned_at: datetime | None
    first_touch_due_at: datetime | None
    first_touch_at: datetime | None
    touches: int
    accepted_at: datetime | None
    opportunity_at: datetime | None
    won_at: datetime | None
    lost_at: datetime | None
    returned_at: datetime | None
    erased_at: datetime | None


_LEADS_OF = select(leads).where(leads.c.lead_id.in_(bindparam("lead_ids", expanding=True)))


async def lead_rows(tx: Tx, lead_ids: Collection[str]) -> dict[str, dict[str, Any] | None]:
    """The stored rows of the leads, by lead id (None where there is none yet; one read)."""
    rows: dict[str, dict[str, Any] | None] = dict.fromkeys(lead_ids)
    if lead_ids:
        for row in await tx.conn.execute(_LEADS_OF, {"lead_ids": list(lead_ids)}):
            rows[row.lead_id] = dict(row._mapping)
    return rows


async def list_leads(
    conn: Conn, *, stage_rank: int | None, rep_id: str | None, limit: int
) -> list[LeadRow]:
    """Leads, the most recently captured first."""
    query = select(leads).order_by(leads.c.captured_at.desc().nulls_last(), leads.c.lead_id)
    if stage_rank is not None:
        query = query.where(leads.c.stage_rank == stage_rank)
    if rep_id is not None:
        query = query.where(leads.c.rep_id == rep_id)
    rows = await _c(conn).execute(query.limit(limit))
    return [LeadRow(**row._mapping) for row in rows]


async def get_lead(conn: Conn, lead_id: str) -> LeadRow | None:
    row = (await _c(conn).execute(select(leads).where(leads.c.lead_id == lead_id))).first()
    return LeadRow(**row._mapping) if row is not None else None


# --- finding a lead by its email or company ------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """What a manager may search a lead by (a lead's latest profile)."""

    lead_id: str
    email: str | None
    company: str | None

    def row(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id,
            "email": self.email.lower() if self.email else None,
            "company": self.company,
            "company_key": self.company.lower() if self.company else None,
        }


@cache
def _put_contact(dialect: str) -> Insert:
    statement = (
        pg_insert(lead_contacts) if dialect == "postgresql" else sqlite_insert(lead_contacts)
    )
    said = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[lead_contacts.c.lead_id],
        set_={
            c: func.coalesce(said[c], lead_contacts.c[c])
            for c in ("email", "company", "company_key")
        },
    )


async def put_contacts(tx: Tx, contacts: Sequence[Contact]) -> None:
    """Remember the leads' emails and companies (one statement; a value the new profile
    leaves out keeps the one stored)."""
    if contacts:
        await tx.conn.execute(_put_contact(tx.conn.dialect.name), [c.row() for c in contacts])


async def forget_contact(tx: Tx, lead_id: str) -> None:
    await tx.conn.execute(lead_contacts.delete().where(lead_contacts.c.lead_id == lead_id))


@dataclass(frozen=True)
class LeadMatch:
    lead_id: str
    email: str | None
    company: str | None
    source: str | None
    stage_rank: int
    rep_id: str | None
    rep_name: str | None
    captured_at: datetime | None


async def find_leads(conn: Conn, text: str, limit: int) -> list[LeadMatch]:
    """Leads whose email is `text` (case aside), whose company contains it, or whose id it
    is; the most recently captured first. An erased lead is found by its id only, and shown
    without email or company (its contact row is gone with the erasure)."""
    wanted = text.lower()
    pattern = "%" + wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matched = union(
        select(lead_contacts.c.lead_id).where(lead_contacts.c.email == wanted),
        select(lead_contacts.c.lead_id).where(
            lead_contacts.c.company_key.like(pattern, escape="\\")
        ),
        select(leads.c.lead_id).where(leads.c.lead_id == text),
    ).subquery()
    query = (
        select(
            leads.c.lead_id,
            lead_contacts.c.email,
            lead_contacts.c.company,
            leads.c.source,
            leads.c.stage_rank,
            leads.c.rep_id,
            reps.c.name.label("rep_name"),
            leads.c.captured_at,
            leads.c.erased_at,
        )
        .select_from(
            matched.join(leads, leads.c.lead_id == matched.c.lead_id)
            .outerjoin(lead_contacts, lead_contacts.c.lead_id == leads.c.lead_id)
            .outerjoin(reps, reps.c.rep_id == leads.c.rep_id)
        )
        # by id an erased lead is found (its story, redacted); by email or company never
        .where(or_(leads.c.erased_at.is_(None), leads.c.lead_id == text))
        .order_by(leads.c.captured_at.desc().nulls_last(), leads.c.lead_id)
        .limit(limit)
    )
    found = []
    for row in (await _c(conn).execute(query)).all():
        values = {k: v for k, v in row._mapping.items() if k != "erased_at"}
        if row.erased_at is not None:
            values |= {"email": None, "company": None}
        found.append(LeadMatch(**values))
    return found


# --- assignments and reps -------------------------------------------------------------------


_ASSIGNMENTS_OF = select(
    assignments.c.assignment_id,
    assignments.c.lead_id,
    assignments.c.rep_id,
    assignments.c.assigned_at,
    assignments.c.due_at,
    assignments.c.ended_at,
).where(assignments.c.lead_id.in_(bindparam("lead_ids", expanding=True)))

_END_ASSIGNMENT = (
    update(assignments)
    .where(
        assignments.c.assignment_id == bindparam("b_assignment_id"),
        assignments.c.ended_at.is_(None),
    )
    .values(ended_at=bindparam("b_ended_at"))
)


async def assignments_of(tx: Tx, lead_ids: Collection[str]) -> list[Assignment]:
    """The stored assignments of the leads (one read)."""
    if not lead_ids:
        return []
    rows = (await tx.conn.execute(_ASSIGNMENTS_OF, {"lead_ids": list(lead_ids)})).all()
    return [Assignment(**r._mapping) for r in rows]


async def insert_assignments(tx: Tx, new: Sequence[Assignment]) -> None:
    """Store a run's new assignments (one multi-row insert; one stored before is kept)."""
    if new:
        await tx.conn.execute(
            insert_ignoring(assignments, tx.conn.dialect.name),
            [{**a.__dict__, "touches": 0, "cadence_breaches": 0} for a in new],
        )


async def end_assignments(tx: Tx, ended: Mapping[str, datetime]) -> None:
    """End stored assignments (id -> when) that are still open (one executemany)."""
    if ended:
        await tx.conn.execute(
            _END_ASSIGNMENT,
            [{"b_assignment_id": id_, "b_ended_at": at} for id_, at in ended.items()],
        )


async def _assignment_exists(tx: Tx, assignment_id: str) -> bool:
    found = await tx.conn.scalar(
        select(assignments.c.assignment_id).where(assignments.c.assignment_id == assignment_id)
    )
    return found is not None


async def _latest_assignment(tx: Tx, lead_id: str, rep_id: str) -> str | None:
    found = await tx.conn.scalar(
        select(assignments.c.assignment_id)
        .where(assignments.c.lead_id == lead_id, assignments.c.rep_id == rep_id)
        .order_by(assignments.c.assigned_at.desc())
        .limit(1)
    )
    return str(found) if found is not None else None


async def touch_assignment(
    tx: Tx, lead_id: str, rep_id: str, at: datetime, assignment_id: str | None = None
) -> None:
    """Count a touch on the assignment it names, else on the rep's latest one of the lead."""
    if assignment_id is None or not await _assignment_exists(tx, assignment_id):
        assignment_id = await _latest_assignment(tx, lead_id, rep_id)
    if assignment_id is None:
        return
    await tx.conn.execute(
        update(assignments)
        .where(assignments.c.assignment_id == assignment_id)
        .values(
            touches=assignments.c.touches + 1,
            first_touch_at=_earliest(assignments.c.first_touch_at, at),
        )
    )


async def breach_assignment(
    tx: Tx,
    lead_id: str,
    rep_id: str,
    sla: str,
    at: datetime,
    assignment_id: str | None = None,
) -> None:
    if assignment_id is None or not await _assignment_exists(tx, assignment_id):
        assignment_id = await _latest_assignment(tx, lead_id, rep_id)
    if assignment_id is None:
        return
    values: dict[str, Any] = (
        {"breached_at": _earliest(assignments.c.breached_at, at)}
        if sla == "first_touch"
        else {"cadence_breaches": assignments.c.cadence_breaches + 1}
    )
    await tx.conn.execute(
        update(assignments).where(assignments.c.assignment_id == assignment_id).values(**values)
    )


@cache
def _put_rep(dialect: str) -> Insert:
    statement = pg_insert(reps) if dialect == "postgresql" else sqlite_insert(reps)
    return statement.on_conflict_do_update(
        index_elements=[reps.c.rep_id],
        set_={"name": statement.excluded.name, "updated_at": statement.excluded.updated_at},
        where=reps.c.name != statement.excluded.name,
    )


async def put_reps(tx: Tx, names: Mapping[str, str]) -> None:
    """Remember reps' names (rep id -> name; one statement, and a row is rewritten only
    when its name changes)."""
    if names:
        now = tx.now()
        await tx.conn.execute(
            _put_rep(tx.conn.dialect.name),
            [{"rep_id": rep_id, "name": name, "updated_at": now} for rep_id, name in names.items()],
        )


async def rep_names(conn: Conn) -> dict[str, str]:
    rows = (await _c(conn).execute(select(reps.c.rep_id, reps.c.name))).all()
    return {r.rep_id: r.name for r in rows}


# --- deals ----------------------------------------------------------------------------------


async def put_deal(
    tx: Tx,
    *,
    opportunity_id: str,
    lead_id: str,
    rep_id: str | None,
    won: bool,
    amount_cents: int,
    currency: str,
    closed_at: datetime,
) -> None:
    values = {
        "lead_id": lead_id,
        "rep_id": rep_id,
        "won": won,
        "amount_cents": amount_cents,
        "currency": currency,
        "closed_at": closed_at,
    }
    if not await _insert_ignore(tx, deals, {"opportunity_id": opportunity_id, **values}):
        await tx.conn.execute(
            update(deals).where(deals.c.opportunity_id == opportunity_id).values(**values)
        )


async def won_deals(conn: Conn, currency: str) -> tuple[int, int]:
    """(count, sum in cents) of closed-won deals in `currency`."""
    row = (
        await _c(conn).execute(
            select(func.count(), func.coalesce(func.sum(deals.c.amount_cents), 0)).where(
                deals.c.won.is_(True), deals.c.currency == currency
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def won_amount(conn: Conn, lead_id: str, currency: str) -> int | None:
    """The amount (cents) of the lead's latest closed-won deal in `currency`, if any."""
    amount = await _c(conn).scalar(
        select(deals.c.amount_cents)
        .where(deals.c.lead_id == lead_id, deals.c.won.is_(True), deals.c.currency == currency)
        .order_by(deals.c.closed_at.desc())
        .limit(1)
    )
    return int(amount) if amount is not None else None


# --- facts for the metrics ------------------------------------------------------------------


def _cohort() -> ColumnElement[Any]:
    return func.coalesce(leads.c.captured_at, leads.c.first_seen_at)


def _in_cohort(start: datetime | None, end: datetime | None) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [leads.c.is_test.is_(False)]
    if start is not None:
        conditions.append(_cohort() >= _at(start))
    if end is not None:
        conditions.append(_cohort() < _at(end))
    return and_(*conditions)


async def lead_facts(conn: Conn, start: datetime | None, end: datetime | None) -> list[LeadFact]:
    rows = (await _c(conn).execute(select(leads).where(_in_cohort(start, end)))).all()
    return [
        LeadFact(
            lead_id=r.lead_id,
            source=r.source or "unknown",
            source_class=r.source_class or "unknown",
            cohort_at=r.captured_at or r.first_seen_at,
            stage_rank=r.stage_rank,
            rep_id=r.rep_id,
            assigned_at=r.assigned_at,
            first_touch_due_at=r.first_touch_due_at,
            first_touch_at=r.first_touch_at,
            accepted_at=r.accepted_at,
            opportunity_at=r.opportunity_at,
            won_at=r.won_at,
            lost_at=r.lost_at,
            disqualified_at=r.disqualified_at,
        )
        for r in rows
    ]


async def assignment_facts(
    conn: Conn, start: datetime | None, end: datetime | None
) -> list[AssignmentFact]:
    rows = (
        await _c(conn).execute(
            select(assignments)
            .join(leads, leads.c.lead_id == assignments.c.lead_id)
            .where(_in_cohort(start, end))
        )
    ).all()
    return [
        AssignmentFact(
            assignment_id=r.assignment_id,
            lead_id=r.lead_id,
            rep_id=r.rep_id,
            assigned_at=r.assigned_at,
            due_at=r.due_at,
            first_touch_at=r.first_touch_at,
            breached=r.breached_at is not None,
            cadence_breaches=r.cadence_breaches,
        )
        for r in rows
    ]


async def deal_facts(conn: Conn, start: datetime | None, end: datetime | None) -> list[DealFact]:
    rows = (
        await _c(conn).execute(
            select(deals)
            .join(leads, leads.c.lead_id == deals.c.lead_id)
            .where(_in_cohort(start, end))
        )
    ).all()
    return [
        DealFact(
            opportunity_id=r.opportunity_id,
            lead_id=r.lead_id,
            rep_id=r.rep_id,
            won=r.won,
            amount_cents=r.amount_cents,
            closed_at=r.closed_at,
        )
        for r in rows
    ]


async def audit_facts(conn: Conn, start: datetime | None, end: datetime | None) -> list[AuditFact]:
    rows = (
        await _c(conn).execute(
            select(satisfaction_audits)
            .join(leads, leads.c.lead_id == satisfaction_audits.c.lead_id)
            .where(_in_cohort(start, end), satisfaction_audits.c.status == "recorded")
        )
    ).all()
    return [
        AuditFact(
            audit_id=r.id,
            lead_id=r.lead_id,
            rep_id=r.rep_id,
            source=r.source,
            source_class=r.source_class,
            contacted=bool(r.contacted),
            satisfaction=r.satisfaction,
            outcome=r.outcome or "",
            logged_contact=bool(r.logged_contact),
        )
        for r in rows
    ]


async def source_classes(conn: Conn) -> dict[str, str]:
    rows = (
        await _c(conn).execute(
            select(leads.c.source, leads.c.source_class)
            .where(leads.c.source.is_not(None), leads.c.source_class.is_not(None))
            .distinct()
        )
    ).all()
    return {r.source: r.source_class for r in rows}


# --- spend ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpendRow:
    source: str
    period: str
    amount_cents: int
    currency: str
    note: str | None
    updated_by: str
    updated_at: datetime


async def put_spend(
    tx: Tx,
    *,
    source: str,
    period: str,
    amount_cents: int,
    currency: str,
    note: str | None,
    updated_by: str,
) -> bool:
    """Create or replace the spend of a source in a period; True when it was new."""
    values = {
        "amount_cents": amount_cents,
        "currency": currency,
        "note": note,
        "updated_by": updated_by,
        "updated_at": tx.now(),
    }
    if await _insert_ignore(tx, spend, {"source": source, "period": period, **values}):
        return True
    await tx.conn.execute(
        update(spend).where(spend.c.source == source, spend.c.period == period).values(**values)
    )
    return False


async def list_spend(conn: Conn, first: str | None, last: str | None) -> list[SpendRow]:
    query = select(spend).order_by(spend.c.period, spend.c.source)
    if first is not None:
        query = query.where(spend.c.period >= first)
    if last is not None:
        query = query.where(spend.c.period <= last)
    return [SpendRow(**r._mapping) for r in (await _c(conn).execute(query)).all()]


def spend_facts(rows: Sequence[SpendRow]) -> list[SpendFact]:
    return [SpendFact(r.source, r.period, r.amount_cents) for r in rows]


# --- Prospect Satisfaction audits -----------------------------------------------------------


@dataclass(frozen=True)
class SatisfactionAuditRow:
    id: str
    lead_id: str
    reason: str
    status: str
    opened_at: datetime
    due_at: datetime
    rep_id: str | None
    source: str | None
    source_class: str | None
    contacted: bool | None
    contact_count: int | None
    contacted_by: str | None
    contacted_within: str | None
    satisfaction: int | None
    outcome: str | None
    comment: str | None
    logged_contact: bool | None
    recorded_at: datetime | None
    recorded_by: str | None


async def open_satisfaction_audit_for(conn: Conn, lead_id: str) -> SatisfactionAuditRow | None:
    row = (
        await _c(conn).execute(
            select(satisfaction_audits)
            .where(satisfaction_audits.c.lead_id == lead_id, satisfaction_audits.c.status == "open")
            .limit(1)
        )
    ).first()
    return SatisfactionAuditRow(**row._mapping) if row is not None else None


async def satisfaction_audits_of(conn: Conn, lead_id: str) -> list[SatisfactionAuditRow]:
    rows = (
        await _c(conn).execute(
            select(satisfaction_audits)
            .where(satisfaction_audits.c.lead_id == lead_id)
            .order_by(satisfaction_audits.c.opened_at)
        )
    ).all()
    return [SatisfactionAuditRow(**r._mapping) for r in rows]


async def insert_satisfaction_audit(
    tx: Tx,
    *,
    audit_id: str,
    lead_id: str,
    reason: str,
    opened_at: datetime,
    due_at: datetime,
    rep_id: str | None,
) -> None:
    await tx.conn.execute(
        satisfaction_audits.insert().values(
            id=audit_id,
            lead_id=lead_id,
            reason=reason,
            status="open",
            opened_at=opened_at,
            due_at=due_at,
            rep_id=rep_id,
        )
    )


_AUDITED = (
    select(satisfaction_audits.c.lead_id)
    .where(satisfaction_audits.c.lead_id.in_(bindparam("lead_ids", expanding=True)))
    .distinct()
)


async def leads_with_satisfaction_audits(tx: Tx, lead_ids: Collection[str]) -> set[str]:
    """Which of the leads have had an audit (one read)."""
    if not lead_ids:
        return set()
    return set((await tx.conn.execute(_AUDITED, {"lead_ids": list(lead_ids)})).scalars())


async def insert_satisfaction_audits(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Open audits (one multi-row insert)."""
    if rows:
        await tx.conn.execute(satisfaction_audits.insert(), list(rows))


async def get_satisfaction_audit(conn: Conn, audit_id: str) -> SatisfactionAuditRow | None:
    row = (
        await _c(conn).execute(
            select(satisfaction_audits).where(satisfaction_audits.c.id == audit_id)
        )
    ).first()
    return SatisfactionAuditRow(**row._mapping) if row is not None else None


async def list_satisfaction_audits(
    conn: Conn, *, status: str | None, due_by: datetime | None, limit: int
) -> list[SatisfactionAuditRow]:
    query = (
        select(satisfaction_audits)
        .order_by(satisfaction_audits.c.due_at, satisfaction_audits.c.id)
        .limit(limit)
    )
    if status is not None:
        query = query.where(satisfaction_audits.c.status == status)
    if due_by is not None:
        query = query.where(satisfaction_audits.c.due_at <= _at(due_by))
    return [SatisfactionAuditRow(**r._mapping) for r in (await _c(conn).execute(query)).all()]


async def record_satisfaction_audit(tx: Tx, audit_id: str, **values: Any) -> bool:
    """Record an open audit's outcome; False when it was not open any more."""
    result = await tx.conn.execute(
        update(satisfaction_audits)
        .where(satisfaction_audits.c.id == audit_id, satisfaction_audits.c.status == "open")
        .values(status="recorded", **values)
    )
    return bool(result.rowcount == 1)


# --- the forecast ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryRow:
    id: str
    lead_id: str
    status: str
    amount_cents: int
    currency: str
    period: str
    expected_close_at: datetime
    entered_at: datetime
    source: str | None
    source_class: str | None
    rep_id: str | None
    removed_at: datetime | None
    removal_request_id: str | None


async def current_entry(conn: Conn, lead_id: str) -> EntryRow | None:
    """The lead's forecast entry that was not removed (open, or won)."""
    row = (
        await _c(conn).execute(
            select(forecast)
            .where(forecast.c.lead_id == lead_id, forecast.c.status != "removed")
            .limit(1)
        )
    ).first()
    return EntryRow(**row._mapping) if row is not None else None


async def get_entry(conn: Conn, entry_id: str) -> EntryRow | None:
    row = (await _c(conn).execute(select(forecast).where(forecast.c.id == entry_id))).first()
    return EntryRow(**row._mapping) if row is not None else None


_ON_FORECAST = (
    select(forecast.c.lead_id)
    .where(
        forecast.c.lead_id.in_(bindparam("lead_ids", expanding=True)),
        forecast.c.status != "removed",
    )
    .distinct()
)


async def leads_on_forecast(tx: Tx, lead_ids: Collection[str]) -> set[str]:
    """Which of the leads have a forecast entry that was not removed (one read)."""
    if not lead_ids:
        return set()
    return set((await tx.conn.execute(_ON_FORECAST, {"lead_ids": list(lead_ids)})).scalars())


async def insert_entries(tx: Tx, entries: Sequence[EntryRow]) -> None:
    """Put leads on the forecast (one multi-row insert)."""
    if entries:
        await tx.conn.execute(forecast.insert(), [entry.__dict__ for entry in entries])


_SET_ENTRY_REP = (
    update(forecast)
    .where(forecast.c.lead_id == bindparam("b_lead_id"), forecast.c.status == "open")
    .values(rep_id=bindparam("b_rep_id"))
)


async def set_entry_reps(tx: Tx, rep_of: Mapping[str, str]) -> None:
    """Move the leads' open forecast entries to their current reps (lead id -> rep id)."""
    if rep_of:
        await tx.conn.execute(
            _SET_ENTRY_REP,
            [{"b_lead_id": lead_id, "b_rep_id": rep_id} for lead_id, rep_id in rep_of.items()],
        )


async def mark_entry_won(tx: Tx, lead_id: str, amount_cents: int, currency: str) -> None:
    """The lead's open entry is won, at the deal's amount from now on (the estimate it was
    entered with was a share of an average deal). A deal in another currency than the
    forecast's keeps the estimate: audit converts no money."""
    await tx.conn.execute(
        update(forecast)
        .where(forecast.c.lead_id == lead_id, forecast.c.status == "open")
        .values(
            status="won",
            amount_cents=case(
                (forecast.c.currency == currency, amount_cents), else_=forecast.c.amount_cents
            ),
        )
    )


async def remove_entry(tx: Tx, entry_id: str, request_id: str) -> None:
    await tx.conn.execute(
        update(forecast)
        .where(forecast.c.id == entry_id)
        .values(status="removed", removed_at=tx.now(), removal_request_id=request_id)
    )


async def entries(
    conn: Conn,
    *,
    status: str | None = None,
    first: str | None = None,
    last: str | None = None,
    lead_id: str | None = None,
    limit: int | None = None,
) -> list[EntryRow]:
    query = select(forecast).order_by(forecast.c.entered_at, forecast.c.id)
    if status is not None:
        query = query.where(forecast.c.status == status)
    if first is not None:
        query = query.where(forecast.c.period >= first)
    if last is not None:
        query = query.where(forecast.c.period <= last)
    if lead_id is not None:
        query = query.where(forecast.c.lead_id == lead_id)
    if limit is not None:
        query = query.limit(limit)
    return [EntryRow(**r._mapping) for r in (await _c(conn).execute(query)).all()]


@dataclass(frozen=True)
class RequestRow:
    id: str
    lead_id: str
    entry_id: str
    status: str
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


async def insert_request(tx: Tx, request: RequestRow) -> None:
    await tx.conn.execute(removal_requests.insert().values(**request.__dict__))


async def get_request(conn: Conn, request_id: str) -> RequestRow | None:
    row = (
        await _c(conn).execute(select(removal_requests).where(removal_requests.c.id == request_id))
    ).first()
    return RequestRow(**row._mapping) if row is not None else None


async def pending_request_for(conn: Conn, entry_id: str) -> RequestRow | None:
    row = (
        await _c(conn).execute(
            select(removal_requests)
            .where(removal_requests.c.entry_id == entry_id, removal_requests.c.status == "pending")
            .limit(1)
        )
    ).first()
    return RequestRow(**row._mapping) if row is not None else None


async def decide_request(
    tx: Tx, request_id: str, *, status: str, decided_by: str, reason: str
) -> bool:
    result = await tx.conn.execute(
        update(removal_requests)
        .where(removal_requests.c.id == request_id, removal_requests.c.status == "pending")
        .values(status=status, decided_by=decided_by, decided_at=tx.now(), decision_reason=reason)
    )
    return bool(result.rowcount == 1)


async def list_requests(
    conn: Conn, *, status: str | None, lead_id: str | None = None, limit: int = 200
) -> list[RequestRow]:
    query = select(removal_requests).order_by(removal_requests.c.requested_at).limit(limit)
    if status is not None:
        query = query.where(removal_requests.c.status == status)
    if lead_id is not None:
        query = query.where(removal_requests.c.lead_id == lead_id)
    return [RequestRow(**r._mapping) for r in (await _c(conn).execute(query)).all()]


async def scrub_requests(tx: Tx, lead_id: str, scrub: Any) -> None:
    """Rewrite the free-text reasons of a lead's removal requests with `scrub(text)`."""
    for request in await list_requests(tx, status=None, lead_id=lead_id, limit=10_000):
        await tx.conn.execute(
            update(removal_requests)
            .where(removal_requests.c.id == request.id)
            .values(
                reason=scrub(request.reason),
                decision_reason=scrub(request.decision_reason)
                if request.decision_reason is not None
                else None,
            )
        )


# --- roles ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleRow:
    key_id: str
    role: str
    granted_by: str
    granted_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None


async def api_key_scope(conn: Conn, key_id: str) -> str | None:
    """The scope of an active API key (the shared auth store), or None."""
    row = (
        await _c(conn).execute(
            select(api_keys.c.scope).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        )
    ).first()
    return str(row.scope) if row is not None else None


async def grant_role(tx: Tx, key_id: str, role: str, granted_by: str) -> bool:
    """True when the role is newly granted (or granted again after a revoke)."""
    values = {"granted_by": granted_by, "granted_at": tx.now()}
    if await _insert_ignore(tx, roles, {"key_id": key_id, "role": role, **values}):
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
    found = await _c(conn).scalar(
        select(roles.c.key_id).where(
            roles.c.key_id == key_id, roles.c.role == role, roles.c.revoked_at.is_(None)
        )
    )
    return found is not None


async def list_roles(conn: Conn, role: str) -> list[RoleRow]:
    rows = (
        await _c(conn).execute(
            select(roles).where(roles.c.role == role).order_by(roles.c.granted_at)
        )
    ).all()
    return [RoleRow(**r._mapping) for r in rows]


# --- erasures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureRow:
    lead_id: str
    requested_by: str
    requested_at: datetime
    events_redacted: int
    id: str | None


@dataclass(frozen=True)
class ConfirmationRow:
    service: str
    erasure_id: str
    records: int
    confirmed_at: datetime


async def get_erasure(conn: Conn, lead_id: str) -> ErasureRow | None:
    row = (await _c(conn).execute(select(erasures).where(erasures.c.lead_id == lead_id))).first()
    return ErasureRow(**row._mapping) if row is not None else None


async def find_erasure(conn: Conn, erasure_id: str) -> ErasureRow | None:
    """An erasure by its id (or, for erasures made before ids, by its lead id)."""
    row = (
        await _c(conn).execute(
            select(erasures).where(
                or_(erasures.c.id == erasure_id, erasures.c.lead_id == erasure_id)
            )
        )
    ).first()
    return ErasureRow(**row._mapping) if row is not None else None


async def put_erasure(
    tx: Tx, lead_id: str, requested_by: str, events_redacted: int, erasure_id: str
) -> None:
    if not await _insert_ignore(
        tx,
        erasures,
        {
            "lead_id": lead_id,
            "requested_by": requested_by,
            "requested_at": tx.now(),
            "events_redacted": events_redacted,
            "id": erasure_id,
        },
    ):
        await tx.conn.execute(
            update(erasures)
            .where(erasures.c.lead_id == lead_id)
            .values(
                events_redacted=erasures.c.events_redacted + events_redacted,
                id=func.coalesce(erasures.c.id, erasure_id),
            )
        )


async def confirm_erasure(
    tx: Tx, lead_id: str, service: str, erasure_id: str, records: int
) -> None:
    """Record that `service` erased the lead (again: the latest confirmation wins)."""
    values = {"erasure_id": erasure_id, "records": records, "confirmed_at": tx.now()}
    if not await _insert_ignore(
        tx, erasure_confirmations, {"lead_id": lead_id, "service": service, **values}
    ):
        await tx.conn.execute(
            update(erasure_confirmations)
            .where(
                erasure_confirmations.c.lead_id == lead_id,
                erasure_confirmations.c.service == service,
            )
            .values(**values)
        )


async def erasure_confirmations_of(conn: Conn, lead_id: str) -> list[ConfirmationRow]:
    rows = (
        await _c(conn).execute(
            select(
                erasure_confirmations.c.service,
                erasure_confirmations.c.erasure_id,
                erasure_confirmations.c.records,
                erasure_confirmations.c.confirmed_at,
            )
            .where(erasure_confirmations.c.lead_id == lead_id)
            .order_by(erasure_confirmations.c.service)
        )
    ).all()
    return [ConfirmationRow(**r._mapping) for r in rows]


async def erase_satisfaction_audit_text(tx: Tx, lead_id: str) -> None:
    """Drop the free text of a lead's audits: the comment and the name the prospect gave."""
    await tx.conn.execute(
        update(satisfaction_audits)
        .where(satisfaction_audits.c.lead_id == lead_id)
        .values(comment=None, contacted_by=None)
    )
