"""The lead read model (one row per lead, merged in SQL), and the email-and-company lookup a
manager finds a lead by."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert

from audit.models import (
    lead_contacts,
    leads,
    reps,
)
from audit.projection import MILESTONES, LeadChange
from audit.records import LeadMatch, LeadRow
from services.db import Conn, Tx, connection_of

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
        await tx.write(statement, [change.row() for change in changes])


async def mark_erased(tx: Tx, lead_id: str, at: datetime) -> None:
    await tx.conn.execute(update(leads).where(leads.c.lead_id == lead_id).values(erased_at=at))


_LEADS_OF = select(leads).where(leads.c.lead_id.in_(bindparam("lead_ids", expanding=True)))


async def lead_rows(tx: Tx, lead_ids: Collection[str]) -> dict[str, LeadRow | None]:
    """The stored rows of the leads, by lead id (None where there is none yet; one read)."""
    rows: dict[str, LeadRow | None] = dict.fromkeys(lead_ids)
    if lead_ids:
        for row in await tx.rows(_LEADS_OF, {"lead_ids": list(lead_ids)}):
            rows[row["lead_id"]] = LeadRow(**row)
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
    rows = await connection_of(conn).execute(query.limit(limit))
    return [LeadRow(**row._mapping) for row in rows]


async def get_lead(conn: Conn, lead_id: str) -> LeadRow | None:
    row = (
        await connection_of(conn).execute(select(leads).where(leads.c.lead_id == lead_id))
    ).first()
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
        await tx.write(_put_contact(tx.conn.dialect.name), [c.row() for c in contacts])


async def forget_contact(tx: Tx, lead_id: str) -> None:
    await tx.conn.execute(lead_contacts.delete().where(lead_contacts.c.lead_id == lead_id))


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
    for row in (await connection_of(conn).execute(query)).all():
        values = {k: v for k, v in row._mapping.items() if k != "erased_at"}
        if row.erased_at is not None:
            values |= {"email": None, "company": None}
        found.append(LeadMatch(**values))
    return found
