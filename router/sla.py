"""The SLA a lead is held to: a pool's terms (its own, else the router's settings), the
deadlines they give in the rep's business time, and the durable timers that enforce them.

- `sla_of`: the pool's SLA, each term falling back to the router's setting;
- `deadlines`: where the first-touch deadline and the cadence's end are computed, from the
  moment of assignment in the rep's calendar.

What happens when a deadline passes is in breaches.py; how activities count toward the
cadence, in activities.py; judging the reps, in compliance.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

from router.calendar import Calendar
from router.records import PoolRecord
from router.settings import RouterSettings

FIRST_TOUCH = "first_touch"
CADENCE_END = "cadence_end"
HELD = "route_held"
TIMER_KINDS = (FIRST_TOUCH, CADENCE_END, HELD)
CONNECTED_OUTCOMES = frozenset({"connected", "not_interested", "meeting_booked", "replied", "held"})


class Sla(BaseModel):
    """The SLA in force, every value resolved."""

    first_touch_minutes: float
    calls: int
    emails: int
    business_days: int
    min_spacing_minutes: float
    reassign_on_missed_first_touch: bool
    max_reassignments: int


def sla_of(pool: PoolRecord, settings: RouterSettings) -> Sla:
    s, d = pool.sla, settings
    return Sla(
        first_touch_minutes=_or(s.first_touch_minutes, d.first_touch_minutes),
        calls=_or(s.calls, d.cadence_calls),
        emails=_or(s.emails, d.cadence_emails),
        business_days=_or(s.business_days, d.cadence_business_days),
        min_spacing_minutes=_or(s.min_spacing_minutes, d.cadence_min_spacing_minutes),
        reassign_on_missed_first_touch=_or(
            s.reassign_on_missed_first_touch, d.reassign_on_missed_first_touch
        ),
        max_reassignments=_or(s.max_reassignments, d.max_reassignments),
    )


def deadlines(calendar: Calendar, sla: Sla, now: datetime) -> tuple[datetime, datetime]:
    """The first-touch deadline and the end of the cadence's window of a lead assigned `now`
    to a rep with this calendar: business minutes, and the close of the last business day."""
    return (
        calendar.add_minutes(now, sla.first_touch_minutes),
        calendar.close_of_business_day(now, sla.business_days),
    )


T = TypeVar("T")


def _or(value: T | None, default: T) -> T:
    return default if value is None else value
