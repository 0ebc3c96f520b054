"""A track's statistics: enrolments by status and step, what became of its emails."""

from __future__ import annotations

from sqlalchemy import func, select, union

from nurture.models import engagements, enrolments, messages, suppressions, tasks
from nurture.records import TrackCounts
from services.db import Conn, connection_of


async def enrolments_by_step(conn: Conn, track: str) -> dict[tuple[int, str], int]:
    """Enrolments on the track by (steps done, status)."""
    rows = await connection_of(conn).execute(
        select(enrolments.c.step, enrolments.c.status, func.count())
        .where(enrolments.c.track == track)
        .group_by(enrolments.c.step, enrolments.c.status)
    )
    return {(int(step), str(status)): int(n) for step, status, n in rows}


async def track_stats(conn: Conn, track: str) -> TrackCounts:
    c = connection_of(conn)
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
    return TrackCounts(
        **{
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
    )
