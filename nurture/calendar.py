"""Business time: when a track's step is due, in the lead's time zone, on a business day
(not a day off of the calendar, or of the lead's country with `lead_holidays`) within
business hours. Pure functions of the calendar and aware datetimes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from nurture.definitions import WEEKDAYS, CalendarDef
from services.holidays import HolidayError, Holidays, check_country

# The business time zone of a country (the most populous business zone where there are
# several); the tracks file's calendar.country_timezones overrides any of them.
COUNTRY_TIMEZONES: dict[str, str] = {
    "AT": "Europe/Vienna",
    "AU": "Australia/Sydney",
    "BE": "Europe/Brussels",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CH": "Europe/Zurich",
    "CZ": "Europe/Prague",
    "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen",
    "ES": "Europe/Madrid",
    "FI": "Europe/Helsinki",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "IN": "Asia/Kolkata",
    "IT": "Europe/Rome",
    "JP": "Asia/Tokyo",
    "LU": "Europe/Luxembourg",
    "MX": "America/Mexico_City",
    "NL": "Europe/Amsterdam",
    "NO": "Europe/Oslo",
    "NZ": "Pacific/Auckland",
    "PL": "Europe/Warsaw",
    "PT": "Europe/Lisbon",
    "SE": "Europe/Stockholm",
    "SG": "Asia/Singapore",
    "US": "America/New_York",
    "ZA": "Africa/Johannesburg",
}


CATCH_UP_GRACE = timedelta(hours=1)


def zone_for(calendar: CalendarDef, country: str | None) -> str:
    """The time zone a lead's touches are timed in."""
    if calendar.lead_timezone and country:
        code = country.upper()
        zone = calendar.country_timezones.get(code) or COUNTRY_TIMEZONES.get(code)
        if zone:
            return zone
    return calendar.timezone


def days_off(calendar: CalendarDef, country: str | None) -> Holidays:
    """A lead's days off: with `lead_holidays`, the public holidays of the lead's country
    (when the holidays package knows it) plus the calendar's own `holidays`; otherwise, or
    when the lead's country is the calendar's, the calendar's days off."""
    if not calendar.lead_holidays or not country:
        return calendar.days_off
    try:
        code = check_country(country)
    except HolidayError:
        return calendar.days_off
    if code == calendar.country:
        return calendar.days_off
    return Holidays.of(calendar.holidays, country=code)


def is_business_day(calendar: CalendarDef, day: date, off: Holidays | None = None) -> bool:
    closed = calendar.days_off if off is None else off
    return WEEKDAYS[day.weekday()] in calendar.days and day not in closed


def _opening(calendar: CalendarDef, day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, calendar.send_at, tz).astimezone(UTC)


def next_opening(
    calendar: CalendarDef, zone: str, moment: datetime, country: str | None = None
) -> datetime:
    """`moment` itself when it is within business hours, else the next business day's
    send time (days off as `days_off` says for a lead in `country`)."""
    off = days_off(calendar, country)
    tz = ZoneInfo(zone)
    local = moment.astimezone(tz)
    day = local.date()
    if is_business_day(calendar, day, off):
        if local.time() < calendar.send_at:
            return _opening(calendar, day, tz)
        if local.time() < calendar.until:
            return moment
    for _ in range(400):
        day += timedelta(days=1)
        if is_business_day(calendar, day, off):
            return _opening(calendar, day, tz)
    raise ValueError("the calendar has no business day within a year")


def due_at(
    calendar: CalendarDef,
    zone: str,
    enrolled_at: datetime,
    day: int,
    country: str | None = None,
) -> datetime:
    """When the step at `day` is due: day 0 at once (or the next business opening); a later
    day at the send time of that local date, rolled forward to a business day."""
    if day == 0:
        return next_opening(calendar, zone, enrolled_at, country)
    tz = ZoneInfo(zone)
    local_day = enrolled_at.astimezone(tz).date() + timedelta(days=day)
    return next_opening(calendar, zone, _opening(calendar, local_day, tz), country)


def schedule_after(
    calendar: CalendarDef,
    zone: str,
    enrolled_at: datetime,
    day: int,
    now: datetime,
    country: str | None = None,
) -> datetime:
    """The due time of the next step, never in the past: a track that fell behind (the
    service was down) catches up one touch per `catch_up_hours`, within business time."""
    due = due_at(calendar, zone, enrolled_at, day, country)
    if due >= now:
        return due
    if now - due < CATCH_UP_GRACE:
        return next_opening(calendar, zone, now, country)  # e.g. two steps on one day
    later = now + timedelta(hours=calendar.catch_up_hours)
    return next_opening(calendar, zone, later, country)
