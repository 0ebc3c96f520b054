"""The facts the reports are computed from (lead cohorts), and the spend entered per source
and month."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    select,
    update,
)

from audit.models import (
    assignments,
    deals,
    leads,
    satisfaction_audits,
    spend,
)
from audit.records import SpendRow
from audit.reports.facts import AssignmentFact, AuditFact, DealFact, LeadFact, SpendFact
from audit.repository.common import at_utc, insert_ignore
from services.db import Conn, Tx, connection_of


def _cohort() -> ColumnElement[Any]:
    return func.coalesce(leads.c.captured_at, leads.c.first_seen_at)


def _in_cohort(start: datetime | None, end: datetime | None) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [leads.c.is_test.is_(False)]
    if start is not None:
        conditions.append(_cohort() >= at_utc(start))
    if end is not None:
        conditions.append(_cohort() < at_utc(end))
    return and_(*conditions)


async def lead_facts(conn: Conn, start: datetime | None, end: datetime | None) -> list[LeadFact]:
    rows = (await connection_of(conn).execute(select(leads).where(_in_cohort(start, end)))).all()
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
        await connection_of(conn).execute(
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
        await connection_of(conn).execute(
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
        await connection_of(conn).execute(
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
        await connection_of(conn).execute(
            select(leads.c.source, leads.c.source_class)
            .where(leads.c.source.is_not(None), leads.c.source_class.is_not(None))
            .distinct()
        )
    ).all()
    return {r.source: r.source_class for r in rows}


# --- spend ----------------------------------------------------------------------------------


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
    if await insert_ignore(tx, spend, {"source": source, "period": period, **values}):
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
    return [SpendRow(**r._mapping) for r in (await connection_of(conn).execute(query)).all()]


def spend_facts(rows: Sequence[SpendRow]) -> list[SpendFact]:
    return [SpendFact(r.source, r.period, r.amount_cents) for r in rows]
