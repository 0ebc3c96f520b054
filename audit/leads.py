"""What audit tells of leads: each lead's timeline (its archived events), the archive's
export, the leads as the read model has them, found by email, company or id, a lead's
summary, and reps' names. Reads only: the archive and the read models are written by
`Archive.project`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.projection import STAGE_RANK, Stage
from audit.records import EntryRow, LeadMatch, LeadRow, SatisfactionAuditRow
from audit.repository.assignments import rep_names
from audit.repository.events import (
    archived_events,
    count_archived_events,
    count_events,
    timeline,
)
from audit.repository.forecast import entries
from audit.repository.leads import find_leads, get_lead, list_leads
from audit.repository.satisfaction_audits import satisfaction_audits_of
from services.db import ReadConn


@dataclass(frozen=True)
class ExportPage:
    """Archived events (time, archive position, CloudEvent) oldest first; `total` is the
    window's count, on the first page only."""

    events: list[tuple[datetime, int, dict[str, Any]]]
    total: int | None


@dataclass(frozen=True)
class Summary:
    """What audit knows of one lead, without personal data."""

    lead: LeadRow
    events: int
    forecast: list[EntryRow]
    audits: list[SatisfactionAuditRow]


async def story(conn: ReadConn, lead_id: str) -> list[dict[str, Any]]:
    """Every archived event about the lead (CloudEvents), in event time order."""
    return await timeline(conn, lead_id)


async def export(
    conn: ReadConn,
    types: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> ExportPage:
    """A page of the archived events of `types` in [since, until), not redacted, after the
    keyset `after` (time, position)."""
    total = await count_archived_events(conn, types, since, until) if after is None else None
    rows = await archived_events(conn, types, since, until, after=after, limit=limit)
    return ExportPage(rows, total)


async def search(conn: ReadConn, text: str, limit: int) -> list[LeadMatch]:
    """Leads whose email is `text`, whose company contains it, or whose id it is."""
    return await find_leads(conn, text, limit)


async def listing(
    conn: ReadConn, *, stage: Stage | None, rep_id: str | None, limit: int
) -> list[LeadRow]:
    """Leads, the most recently captured first."""
    rank = None if stage is None else STAGE_RANK[stage]
    return await list_leads(conn, stage_rank=rank, rep_id=rep_id, limit=limit)


async def summary(conn: ReadConn, lead_id: str) -> Summary | None:
    lead = await get_lead(conn, lead_id)
    if lead is None:
        return None
    return Summary(
        lead,
        await count_events(conn, lead_id),
        await entries(conn, lead_id=lead_id),
        await satisfaction_audits_of(conn, lead_id),
    )


async def reps(conn: ReadConn) -> dict[str, str]:
    """Reps' names (rep id -> the name the router last gave)."""
    return await rep_names(conn)
