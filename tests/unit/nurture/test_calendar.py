"""Business time: touches go out on business days at the send time, in the lead's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from nurture.calendar import due_at, next_opening, schedule_after, zone_for
from nurture.definitions import CalendarDef

BERLIN = ZoneInfo("Europe/Berlin")
CALENDAR = CalendarDef(timezone="Europe/Berlin", holidays=[date(2026, 1, 8)])
MONDAY_10 = datetime(2026, 1, 5, 10, 0, tzinfo=BERLIN).astimezone(UTC)


def local(moment: datetime, zone: str = "Europe/Berlin") -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def test_day_zero_is_now_within_business_hours_else_the_next_opening() -> None:
    assert due_at(CALENDAR, "Europe/Berlin", MONDAY_10, 0) == MONDAY_10
    evening = datetime(2026, 1, 5, 18, 30, tzinfo=BERLIN)
    assert local(due_at(CALENDAR, "Europe/Berlin", evening, 0)) == datetime(
        2026, 1, 6, 9, 0, tzinfo=BERLIN
    )
    saturday = datetime(2026, 1, 10, 11, 0, tzinfo=BERLIN)
    assert local(due_at(CALENDAR, "Europe/Berlin", saturday, 0)) == datetime(
        2026, 1, 12, 9, 0, tzinfo=BERLIN
    )
    early = datetime(2026, 1, 6, 7, 0, tzinfo=BERLIN)
    assert local(next_opening(CALENDAR, "Europe/Berlin", early)).time() == time(9, 0)


def test_later_days_go_out_at_the_send_time_rolled_past_weekends_and_holidays() -> None:
    # Monday + 3 = Thursday 8 January, a holiday here: Friday.
    assert local(due_at(CALENDAR, "Europe/Berlin", MONDAY_10, 3)) == datetime(
        2026, 1, 9, 9, 0, tzinfo=BERLIN
    )
    # Monday + 5 = Saturday: Monday 12 January.
    assert local(due_at(CALENDAR, "Europe/Berlin", MONDAY_10, 5)).date() == date(2026, 1, 12)
    # Across the change to summer time the local send time holds.
    summer = local(due_at(CALENDAR, "Europe/Berlin", MONDAY_10, 120))
    assert summer.time() == time(9, 0)
    assert summer.utcoffset() == timedelta(hours=2)


def test_the_lead_s_country_sets_the_time_zone() -> None:
    assert zone_for(CALENDAR, "us") == "America/New_York"
    assert zone_for(CALENDAR, None) == "Europe/Berlin"
    assert zone_for(CALENDAR, "XX") == "Europe/Berlin"
    override = CalendarDef(country_timezones={"us": "America/Los_Angeles"})
    assert zone_for(override, "US") == "America/Los_Angeles"
    assert zone_for(CalendarDef(lead_timezone=False, timezone="UTC"), "US") == "UTC"
    due = due_at(CALENDAR, "America/New_York", MONDAY_10, 1)
    assert local(due, "America/New_York") == datetime(
        2026, 1, 6, 9, 0, tzinfo=ZoneInfo("America/New_York")
    )


def test_a_track_behind_schedule_catches_up_one_touch_a_day() -> None:
    # Step at day 3 is due; the service was down for two weeks.
    now = datetime(2026, 1, 21, 11, 0, tzinfo=BERLIN).astimezone(UTC)
    nxt = schedule_after(CALENDAR, "Europe/Berlin", MONDAY_10, 14, now)
    assert local(nxt) == datetime(2026, 1, 22, 11, 0, tzinfo=BERLIN)
    # On time, the step's own due time.
    on_time = schedule_after(CALENDAR, "Europe/Berlin", MONDAY_10, 14, MONDAY_10)
    assert local(on_time) == datetime(2026, 1, 19, 9, 0, tzinfo=BERLIN)
    # A few minutes late (two steps on one day): at once.
    late = MONDAY_10 + timedelta(minutes=5)
    assert schedule_after(CALENDAR, "Europe/Berlin", MONDAY_10, 0, late) == late
