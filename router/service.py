"""The router's domain: pick a rep for a sales-ready lead, record touches.

The walking skeleton has one pool (all active reps) served round robin; rules, weights,
capacity, working hours and cadences arrive with the router issue.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from contracts.events import ContactLogged, LeadAssigned, LeadQueued
from router import repository
from router.schemas import ActivityIn, ActivityOut, RepOut
from services import timers
from services.db import Tx
from services.outbox import emit

DEFAULT_POOL = "everyone"
DEFAULT_RULE = "default"
FALLBACK_QUEUE = "fallback"
FIRST_TOUCH = "first_touch"


def next_in_turn(reps: list[RepOut], last_rep_id: str | None) -> RepOut:
    """Round robin over reps sorted by id, starting after the last one served."""
    for rep in reps:
        if last_rep_id is None or rep.id > last_rep_id:
            return rep
    return reps[0]


async def assign(
    tx: Tx, lead_id: str, *, first_touch: timedelta, traceparent: str | None
) -> str | None:
    """Assign the lead to the next rep in turn; queue it when nobody can take it."""
    if await repository.assignment_for(tx, lead_id) is not None:
        return None  # already routed: a repeated qualification does not route twice
    assignment_id = str(uuid.uuid4())
    last = await repository.lock_cursor(tx, DEFAULT_POOL)
    reps = await repository.active_reps(tx)
    if not reps:
        await repository.insert_assignment(
            tx,
            assignment_id=assignment_id,
            lead_id=lead_id,
            rep_id=None,
            status="queued",
            pool=FALLBACK_QUEUE,
            rule=DEFAULT_RULE,
            first_touch_due_at=None,
        )
        await emit(
            tx,
            LeadQueued(lead_id=lead_id, queue=FALLBACK_QUEUE, reason="no active rep"),
            traceparent=traceparent,
        )
        return None
    rep = next_in_turn(reps, last)
    await repository.move_cursor(tx, DEFAULT_POOL, rep.id, existed=last is not None)
    due = tx.now() + first_touch
    await repository.insert_assignment(
        tx,
        assignment_id=assignment_id,
        lead_id=lead_id,
        rep_id=rep.id,
        status="assigned",
        pool=DEFAULT_POOL,
        rule=DEFAULT_RULE,
        first_touch_due_at=due,
    )
    await timers.schedule(tx, FIRST_TOUCH, lead_id, due, {"rep_id": rep.id})
    await emit(
        tx,
        LeadAssigned(
            lead_id=lead_id,
            assignment_id=assignment_id,
            rep_id=rep.id,
            rep_name=rep.name,
            pool=DEFAULT_POOL,
            rule=DEFAULT_RULE,
            strategy="round_robin",
            first_touch_due_at=due,
        ),
        traceparent=traceparent,
    )
    return rep.id


async def log_activity(
    tx: Tx, lead_id: str, rep_id: str, body: ActivityIn, traceparent: str | None
) -> ActivityOut:
    activity = ActivityOut(
        id=str(uuid.uuid4()),
        lead_id=lead_id,
        rep_id=rep_id,
        channel=body.channel,
        outcome=body.outcome,
        at=tx.now(),
    )
    await repository.insert_activity(tx, activity)
    await repository.mark_touched(tx, lead_id, activity.at)
    await timers.cancel(tx, FIRST_TOUCH, lead_id)
    await emit(
        tx,
        ContactLogged(
            lead_id=lead_id,
            activity_id=activity.id,
            rep_id=rep_id,
            channel=body.channel,
            outcome=body.outcome,
            at=activity.at,
        ),
        traceparent=traceparent,
    )
    return activity
