"""Business time: a rep's working hours in their time zone, less their team's holidays.

Pure functions over aware datetimes (UTC in, UTC out). Working hours are local wall-clock
intervals per weekday ("09:00-17:00"); an interval is measured in real minutes, so on a
daylight-saving day a 09:00-17:00 day is still eight hours, and the 02:00-03:00 hour that a
spring-forward skips is simply not there. Holidays are local dates and close the whole day:
the team's country's public holidays and its own (services/holidays.py).

A calendar with no working time at all within `HORIZON_DAYS` counts wall-clock time instead
of looping forever (a rep whose every day is a holiday is a data error, not a hang).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.holidays import Holidays

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 400
DEFAULT_HOURS: dict[str, list[str]] = {day: ["09:00-17:00"] for day in WEEKDAYS[:5]}

_INTERVAL = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")

Minutes = tuple[int, int]
"""An interval of a day in minutes since local midnight: [start, end), end up to 1440."""


class CalendarError(ValueError):
    """Working hours, holidays or a time zone that cannot be used, with the reason."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or CalendarError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
        raise CalendarError(f"unknown time zone {name[:64]!r} (use an IANA name)") from exc


def parse_interval(text: str) -> Minutes:
    """'09:00-17:00' -> (540, 1020). 24:00 is allowed as an end."""
    match = _INTERVAL.match(text.strip())
    if match is None:
        raise CalendarError(f"{text!r} is not HH:MM-HH:MM")
    sh, sm, eh, em = (int(g) for g in match.groups())
    start, end = sh * 60 + sm, eh * 60 + em
    if start >= 1440 or end > 1440:
        raise CalendarError(f"{text!r} is outside 00:00-24:00")
    if end <= start:
        raise CalendarError(f"{text!r} ends before it starts (split a night shift in two)")
    return start, end


def parse_week(hours: Mapping[Any, Sequence[str]]) -> tuple[tuple[Minutes, ...], ...]:
    """{"mon": ["09:00-17:00"], ...} -> seven sorted, non-overlapping interval tuples."""
    week: list[tuple[Minutes, ...]] = []
    unknown = set(hours) - set(WEEKDAYS)
    if unknown:
        raise CalendarError(f"unknown weekday {sorted(unknown)[0]!r} (use mon..sun)")
    for day in WEEKDAYS:
        intervals = sorted(parse_interval(i) for i in hours.get(day, ()))
        for (_, end), (start, _) in pairwise(intervals):
            if start < end:
                raise CalendarError(f"{day}: working-hour intervals overlap")
        week.append(tuple(intervals))
    return tuple(week)


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    week: tuple[tuple[Minutes, ...], ...]
    holidays: Holidays = field(default_factory=Holidays)
    _days: dict[date, list[tuple[datetime, datetime]]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    """Each local day's intervals, once worked out (read-only lists): a routing decision
    asks for the same few days of every candidate's calendar again and again."""

    @classmethod
    def of(
        cls,
        time_zone: str,
        hours: Mapping[Any, Sequence[str]],
        holidays: Holidays | Sequence[date] = (),
    ) -> Calendar:
        days_off = holidays if isinstance(holidays, Holidays) else Holidays.of(holidays)
        return cls(zone(time_zone), parse_week(hours), days_off)

    # --- the building block: one local day's open intervals, as UTC instants ----------

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        known = self._days.get(day)
        if known is None:
            known = self._days[day] = self._intervals_on(day)
        return known

    def _intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.holidays:
            return []
        midnight = datetime.combine(day, time(), tzinfo=self.tz)
        out = []
        for start, end in self.week[day.weekday()]:
            # Wall-clock arithmetic on an aware datetime, then to UTC: the zone's offset
            # on that day decides the instant, which is what "09:00 local" means.
            s = (midnight + timedelta(minutes=start)).astimezone(UTC)
            e = (midnight + timedelta(minutes=end)).astimezone(UTC)
            if e > s:
                out.append((s, e))
        return out

    def _days_from(self, at: datetime) -> Iterator[date]:
        # From the local day before, in case a late interval of it still covers `at`.
        day = at.astimezone(self.tz).date() - timedelta(days=1)
        for _ in range(HORIZON_DAYS):
            yield day
            day += timedelta(days=1)

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def local_midnight(self, at: datetime) -> datetime:
        """The start of `at`'s local day, in UTC (a rep's "today" for daily caps)."""
        day = self.local_date(at)
        return datetime.combine(day, time(), tzinfo=self.tz).astimezone(UTC)

    # --- questions ---------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        day = self.local_date(at)
        for d in (day - timedelta(days=1), day):
            if any(s <= at < e for s, e in self.intervals_on(d)):
                return True
        return False

    def next_open(self, at: datetime) -> datetime:
        """`at` if it is working time, else the start of the next working interval."""
        for day in self._days_from(at):
            for s, e in self.intervals_on(day):
                if e > at:
                    return max(s, at)
        return at

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        """The instant `minutes` of working time after `start` (a deadline)."""
        remaining = timedelta(minutes=minutes)
        for day in self._days_from(start):
            for s, e in self.intervals_on(day):
                if e <= start:
                    continue
                s = max(s, start)
                if remaining <= e - s:
                    return s + remaining
                remaining -= e - s
        return start + timedelta(minutes=minutes)

    def minutes_between(self, a: datetime, b: datetime) -> float:
        """Working minutes in [a, b) (0 when b <= a)."""
        if b <= a:
            return 0.0
        total = timedelta()
        day = self.local_date(a) - timedelta(days=1)
        last = self.local_date(b)
        while day <= last:
            for s, e in self.intervals_on(day):
                lo, hi = max(s, a), min(e, b)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 60

    def close_of_business_day(self, start: datetime, days: int) -> datetime:
        """The close of the `days`-th working day, counting the day of `start` when it
        still has working time after `start` (a cadence's window: ten business days)."""
        counted = 0
        for day in self._days_from(start):
            intervals = self.intervals_on(day)
            if not intervals or intervals[-1][1] <= start:
                continue
            counted += 1
            if counted >= days:
                return intervals[-1][1]
        return start + timedelta(days=days)


def is_weekly_hours_empty(hours: Mapping[str, Sequence[str]]) -> bool:
    return not any(hours.get(day) for day in WEEKDAYS)
