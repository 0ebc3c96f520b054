"""The forecast's entries and the requests to remove one."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    bindparam,
    case,
    select,
    update,
)

from audit.models import (
    forecast,
    removal_requests,
)
from audit.records import EntryRow, RequestRow
from services.db import Conn, Tx, connection_of


async def current_entry(conn: Conn, lead_id: str) -> EntryRow | None:
    """The lead's forecast entry that was not removed (open, or won)."""
    row = (
        await connection_of(conn).execute(
            select(forecast)
            .where(forecast.c.lead_id == lead_id, forecast.c.status != "removed")
            .limit(1)
        )
    ).first()
    return EntryRow(**row._mapping) if row is not None else None


async def get_entry(conn: Conn, entry_id: str) -> EntryRow | None:
    row = (
        await connection_of(conn).execute(select(forecast).where(forecast.c.id == entry_id))
    ).first()
    return EntryRow(**row._mapping) if row is not None else None


_INSERT_ENTRY = forecast.insert()
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
    return {row["lead_id"] for row in await tx.rows(_ON_FORECAST, {"lead_ids": list(lead_ids)})}


async def insert_entries(tx: Tx, entries: Sequence[EntryRow]) -> None:
    """Put leads on the forecast (one multi-row insert)."""
    if entries:
        await tx.write(_INSERT_ENTRY, [entry.__dict__ for entry in entries])


_SET_ENTRY_REP = (
    update(forecast)
    .where(forecast.c.lead_id == bindparam("b_lead_id"), forecast.c.status == "open")
    .values(rep_id=bindparam("b_rep_id"))
)


async def set_entry_reps(tx: Tx, rep_of: Mapping[str, str]) -> None:
    """Move the leads' open forecast entries to their current reps (lead id -> rep id)."""
    if rep_of:
        await tx.write(
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
    return [EntryRow(**r._mapping) for r in (await connection_of(conn).execute(query)).all()]


async def insert_request(tx: Tx, request: RequestRow) -> None:
    await tx.conn.execute(removal_requests.insert().values(**request.__dict__))


async def get_request(conn: Conn, request_id: str) -> RequestRow | None:
    row = (
        await connection_of(conn).execute(
            select(removal_requests).where(removal_requests.c.id == request_id)
        )
    ).first()
    return RequestRow(**row._mapping) if row is not None else None


async def pending_request_for(conn: Conn, entry_id: str) -> RequestRow | None:
    row = (
        await connection_of(conn).execute(
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
    return [RequestRow(**r._mapping) for r in (await connection_of(conn).execute(query)).all()]


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
