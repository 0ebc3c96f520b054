"""Business time: weekends, holidays, time zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.calendar import DEFAULT_HOURS, Calendar, CalendarError, parse_interval, parse_week

UTC_WEEK = Calendar.of("UTC", DEFAULT_HOURS)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_five_business_minutes_on_a_monday_morning() -> None:
    assert UTC_WEEK.add_minutes(utc(2026, 1, 5, 9, 0), 5) == utc(2026, 1, 5, 9, 5)


def test_a_deadline_late_on_friday_runs_over_the_weekend() -> None:
    assert UTC_WEEK.add_minutes(utc(2026, 1, 9, 16, 58), 5) == utc(2026, 1, 12, 9, 3)
    # Assigned on Saturday: the clock starts on Monday morning.
    assert UTC_WEEK.add_minutes(utc(2026, 1, 10, 11, 0), 5) == utc(2026, 1, 12, 9, 5)
    assert UTC_WEEK.minutes_between(utc(2026, 1, 9, 16, 58), utc(2026, 1, 12, 9, 3)) == 5


def test_a_deadline_that_ends_at_the_close_stays_on_the_day() -> None:
    assert UTC_WEEK.add_minutes(utc(2026, 1, 5, 16, 55), 5) == utc(2026, 1, 5, 17, 0)


def test_holidays_close_the_whole_local_day() -> None:
    calendar = Calendar.of("UTC", DEFAULT_HOURS, [date(2026, 1, 12), date(2026, 1, 13)])
    assert calendar.add_minutes(utc(2026, 1, 9, 16, 58), 5) == utc(2026, 1, 14, 9, 3)
    assert not calendar.is_open(utc(2026, 1, 12, 10, 0))
    assert calendar.next_open(utc(2026, 1, 12, 10, 0)) == utc(2026, 1, 14, 9, 0)


def test_working_hours_are_in_the_reps_time_zone() -> None:
    new_york = Calendar.of("America/New_York", DEFAULT_HOURS)
    # 13:00 UTC on a January Monday is 08:00 in New York: not open yet.
    assert not new_york.is_open(utc(2026, 1, 5, 13, 0))
    assert new_york.add_minutes(utc(2026, 1, 5, 13, 0), 5) == utc(2026, 1, 5, 14, 5)
    tokyo = Calendar.of("Asia/Tokyo", DEFAULT_HOURS)
    # Monday 09:00 UTC is 18:00 in Tokyo: after hours; Tuesday 09:00 JST is 00:00 UTC.
    assert tokyo.add_minutes(utc(2026, 1, 5, 9, 0), 5) == utc(2026, 1, 6, 0, 5)
    # A rep's "today" (daily caps) starts at their local midnight.
    assert tokyo.local_midnight(utc(2026, 1, 5, 16, 0)) == utc(2026, 1, 5, 15, 0)


def test_split_days_and_lunch_breaks() -> None:
    calendar = Calendar.of("UTC", {"mon": ["09:00-12:00", "13:00-17:00"]})
    assert calendar.add_minutes(utc(2026, 1, 5, 11, 58), 5) == utc(2026, 1, 5, 13, 3)
    # Monday only: the next working time after a Monday is the next Monday.
    assert calendar.add_minutes(utc(2026, 1, 5, 16, 58), 5) == utc(2026, 1, 12, 9, 3)


def test_a_spring_forward_weekend_in_berlin() -> None:
    berlin = Calendar.of("Europe/Berlin", DEFAULT_HOURS)
    # Friday 27 March 2026 16:58 CET (UTC+1); clocks go forward on Sunday 29 March.
    start = utc(2026, 3, 27, 15, 58)
    # Monday 30 March 09:03 CEST is 07:03 UTC: the offset changed over the weekend.
    assert berlin.add_minutes(start, 5) == utc(2026, 3, 30, 7, 3)
    assert berlin.minutes_between(start, utc(2026, 3, 30, 7, 3)) == 5


def test_a_daylight_saving_day_is_measured_in_real_minutes() -> None:
    always = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    berlin = Calendar.of("Europe/Berlin", always)
    spring = berlin.intervals_on(date(2026, 3, 29))
    autumn = berlin.intervals_on(date(2026, 10, 25))
    assert spring[0][1] - spring[0][0] == timedelta(hours=23)
    assert autumn[0][1] - autumn[0][0] == timedelta(hours=25)
    new_york = Calendar.of("America/New_York", {"sun": ["01:00-04:00"]})
    # 8 March 2026: 02:00 does not exist in New York; 01:00-04:00 is two real hours.
    ((s, e),) = new_york.intervals_on(date(2026, 3, 8))
    assert (s, e) == (utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 8, 0))


def test_a_cadence_window_closes_at_the_end_of_the_tenth_business_day() -> None:
    # Monday 5 January 10:00: day 1 is that Monday, day 10 the Friday after next.
    assert UTC_WEEK.close_of_business_day(utc(2026, 1, 5, 10, 0), 10) == utc(2026, 1, 16, 17, 0)
    # After Monday's close, day 1 is Tuesday.
    assert UTC_WEEK.close_of_business_day(utc(2026, 1, 5, 18, 0), 10) == utc(2026, 1, 19, 17, 0)
    with_holiday = Calendar.of("UTC", DEFAULT_HOURS, [date(2026, 1, 7)])
    assert with_holiday.close_of_business_day(utc(2026, 1, 5, 10, 0), 10) == utc(2026, 1, 19, 17, 0)


def test_a_calendar_with_no_working_time_counts_wall_clock_time() -> None:
    every_day = [date(2026, 1, 1) + timedelta(days=i) for i in range(800)]
    closed = Calendar.of("UTC", DEFAULT_HOURS, every_day)
    assert closed.add_minutes(utc(2026, 1, 5, 9, 0), 5) == utc(2026, 1, 5, 9, 5)


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon": ["9-17"]}, "not HH:MM-HH:MM"),
        ({"mon": ["17:00-09:00"]}, "ends before it starts"),
        ({"mon": ["09:00-13:00", "12:00-17:00"]}, "overlap"),
        ({"monday": ["09:00-17:00"]}, "unknown weekday"),
    ],
)
def test_bad_working_hours_are_refused(hours: dict[str, list[str]], message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        parse_week(hours)


def test_intervals_and_zones() -> None:
    assert parse_interval("00:00-24:00") == (0, 1440)
    with pytest.raises(CalendarError, match="unknown time zone"):
        Calendar.of("Mars/Olympus_Mons", DEFAULT_HOURS)


ZONES = st.sampled_from(
    ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
)


@given(
    zone=ZONES,
    start=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=0, max_value=60 * 8 * 15),
)
def test_adding_business_minutes_and_measuring_them_agree(
    zone: str, start: datetime, minutes: int
) -> None:
    calendar = Calendar.of(zone, DEFAULT_HOURS, [date(2026, 12, 25)])
    end = calendar.add_minutes(start, minutes)
    assert end >= start
    assert calendar.minutes_between(start, end) == pytest.approx(minutes)
    if minutes:
        assert calendar.is_open(end - timedelta(microseconds=1))
