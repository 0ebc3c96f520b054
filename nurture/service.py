"""nurture's domain in the walking skeleton: one default track whose touches are durable
timers. Tracks chosen by rules, sending, consent and engagement come with the nurture issue.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from contracts.events import NurtureEnrolled, NurtureTouched
from nurture.models import enrolments
from services import timers
from services.db import Tx
from services.outbox import emit

TOUCH = "nurture_touch"
DEFAULT_TRACK = "long-term-default"
# Days after enrolment of each touch; the last one repeats every 90 days.
TOUCH_DAYS = (0, 3, 14, 30, 60, 90)
REPEAT_DAYS = 90


def days_until_step(step: int) -> int:
    if step < len(TOUCH_DAYS):
        return TOUCH_DAYS[step] - (TOUCH_DAYS[step - 1] if step else 0)
    return REPEAT_DAYS


async def enrol(tx: Tx, lead_id: str, reason: str, traceparent: str | None) -> str | None:
    """Enrol the lead unless it already has an active enrolment (at most one per lead)."""
    active = await tx.conn.scalar(
        select(enrolments.c.id).where(
            enrolments.c.lead_id == lead_id, enrolments.c.status == "active"
        )
    )
    if active is not None:
        return None
    enrolment_id = str(uuid.uuid4())
    now = tx.now()
    first_touch = now + timedelta(days=days_until_step(0))
    await tx.conn.execute(
        enrolments.insert().values(
            id=enrolment_id,
            lead_id=lead_id,
            track=DEFAULT_TRACK,
            reason=reason,
            status="active",
            step=0,
            enrolled_at=now,
            next_touch_at=first_touch,
        )
    )
    await timers.schedule(tx, TOUCH, enrolment_id, first_touch, {"lead_id": lead_id})
    await emit(
        tx,
        NurtureEnrolled(
            lead_id=lead_id,
            enrolment_id=enrolment_id,
            track=DEFAULT_TRACK,
            reason=reason,
            next_touch_at=first_touch,
        ),
        traceparent=traceparent,
    )
    return enrolment_id


async def touch(tx: Tx, enrolment_id: str) -> None:
    row = (await tx.conn.execute(select(enrolments).where(enrolments.c.id == enrolment_id))).first()
    if row is None or row.status != "active":
        return
    now = tx.now()
    step = row.step + 1
    next_touch = now + timedelta(days=days_until_step(step))
    await tx.conn.execute(
        update(enrolments)
        .where(enrolments.c.id == enrolment_id)
        .values(step=step, next_touch_at=next_touch)
    )
    await timers.schedule(tx, TOUCH, enrolment_id, next_touch, {"lead_id": row.lead_id})
    await emit(
        tx,
        NurtureTouched(
            lead_id=row.lead_id, enrolment_id=enrolment_id, step=step, channel="email", at=now
        ),
    )
