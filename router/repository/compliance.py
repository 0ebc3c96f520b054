"""What a rep's compliance is counted from: the SLA obligations due and met in a window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from router.models import (
    assignments,
)
from router.records import ComplianceCounts
from router.repository import Conn
from router.repository import connection_of as _c


async def compliance_counts(
    conn: Conn, rep_id: str, since: datetime, until: datetime
) -> ComplianceCounts:
    """Obligations resolved after `since` (a reinstatement: what was resolved by then was
    judged already) up to and including `until`."""
    c = _c(conn)
    first = await c.execute(
        select(assignments.c.first_touch, func.count())
        .where(
            assignments.c.rep_id == rep_id,
            assignments.c.first_touch.in_(("met", "breached")),
            assignments.c.first_touch_resolved_at > since,
            assignments.c.first_touch_resolved_at <= until,
        )
        .group_by(assignments.c.first_touch)
    )
    ft = {r[0]: int(r[1]) for r in first}
    cadence = await c.execute(
        select(assignments.c.cadence, func.count())
        .where(
            assignments.c.rep_id == rep_id,
            assignments.c.cadence.in_(("connected", "exhausted", "breached")),
            assignments.c.cadence_resolved_at > since,
            assignments.c.cadence_resolved_at <= until,
        )
        .group_by(assignments.c.cadence)
    )
    cad = {r[0]: int(r[1]) for r in cadence}
    return ComplianceCounts(
        first_touch_due=sum(ft.values()),
        first_touch_met=ft.get("met", 0),
        cadences_ended=sum(cad.values()),
        cadences_completed=cad.get("connected", 0) + cad.get("exhausted", 0),
    )
