"""The leads the router holds: read one or a batch, insert and change them (one statement
per table for a routing batch), a rep's leads and the fallback queue."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from contracts.events import LeadProfile
from router.models import (
    leads,
)
from router.records import LeadRecord
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx


def _lead(row: Mapping[Any, Any]) -> LeadRecord:
    data = dict(row)
    data["profile"] = LeadProfile.model_validate(data["profile"])
    return LeadRecord(**data)


async def get_lead(conn: Conn, lead_id: str, *, for_update: bool = False) -> LeadRecord | None:
    query = select(leads).where(leads.c.lead_id == lead_id)
    if for_update and isinstance(conn, Tx) and not conn.unit.database.is_sqlite:
        query = query.with_for_update()
    row = (await _c(conn).execute(query)).first()
    return _lead(row._mapping) if row else None


_INSERT = leads.insert()
_LEADS_BY_ID = select(leads).where(leads.c.lead_id.in_(bindparam("lead_ids", expanding=True)))


_LEADS_BY_ID_FOR_UPDATE = _LEADS_BY_ID.with_for_update()


async def leads_by_id(
    tx: Tx, lead_ids: Iterable[str], *, for_update: bool = False
) -> dict[str, LeadRecord]:
    query = (
        _LEADS_BY_ID_FOR_UPDATE if for_update and not tx.unit.database.is_sqlite else _LEADS_BY_ID
    )
    rows = await tx.rows(query, {"lead_ids": sorted(set(lead_ids))})
    return {r["lead_id"]: _lead(r) for r in rows}


def new_lead(lead_id: str, profile: LeadProfile, score: int | None, now: datetime) -> LeadRecord:
    """A lead the router has just been told about, before any decision."""
    return LeadRecord(
        lead_id=lead_id,
        profile=profile,
        score=score,
        status="queued",
        rep_id=None,
        assignment_id=None,
        pool=None,
        rule=None,
        strategy=None,
        queue=None,
        held_until=None,
        explanation=None,
        reassignments=0,
        return_reason=None,
        created_at=now,
        updated_at=now,
    )


def lead_row(lead: LeadRecord) -> dict[str, Any]:
    return lead_values(vars(lead))


def lead_values(values: dict[str, Any]) -> dict[str, Any]:
    if isinstance(values.get("profile"), LeadProfile):
        values = {**values, "profile": values["profile"].model_dump(mode="json")}
    return dict(values)


def insert_leads(tx: Tx, rows: list[dict[str, Any]]) -> None:
    """Insert new leads at the transaction's next flush (`Tx.defer`)."""
    for row in rows:
        tx.defer(_INSERT, row)


async def change_leads(tx: Tx, changes: dict[str, dict[str, Any]]) -> None:
    """Update leads by id: one executemany per set of changed columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for lead_id, values in changes.items():
        columns = tuple(sorted(values))
        row = {column: values[column] for column in columns}
        row["_lead_id"] = lead_id
        by_columns.setdefault(columns, []).append(row)
    for rows in by_columns.values():
        await tx.write(_UPDATE_LEAD, rows)


_UPDATE_LEAD = update(leads).where(leads.c.lead_id == bindparam("_lead_id"))


async def update_lead(tx: Tx, lead_id: str, **values: Any) -> None:
    if "profile" in values and isinstance(values["profile"], LeadProfile):
        values["profile"] = values["profile"].model_dump(mode="json")
    # Parameters at execute time: the compiled statement is cached per set of columns.
    statement = update(leads).where(leads.c.lead_id == bindparam("_lead_id"))
    await tx.conn.execute(statement, {**values, "updated_at": tx.now(), "_lead_id": lead_id})


async def leads_of_rep(conn: Conn, rep_id: str, statuses: Sequence[str] | None) -> list[LeadRecord]:
    query = select(leads).where(leads.c.rep_id == rep_id).order_by(leads.c.updated_at.desc())
    if statuses:
        query = query.where(leads.c.status.in_(list(statuses)))
    return [_lead(r._mapping) for r in (await _c(conn).execute(query)).all()]


async def queued_leads(conn: Conn) -> list[LeadRecord]:
    query = select(leads).where(leads.c.status.in_(("queued", "held"))).order_by(leads.c.updated_at)
    return [_lead(r._mapping) for r in (await _c(conn).execute(query)).all()]
