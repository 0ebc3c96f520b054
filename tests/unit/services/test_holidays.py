"""Public holidays by country and subdivision (the `holidays` package), a calendar's own
additions and the public holidays it works: one way for the router's team calendars and
nurture's track calendars; bad countries, subdivisions and dates name their field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from nurture.calendar import days_off, due_at, next_opening
from nurture.definitions import CalendarDef
from router.calendar import DEFAULT_HOURS, Calendar
from services.holidays import Holidays
from tests.backends import ADMIN, EmbeddedBackend

LA = ZoneInfo("America/Los_Angeles")
# Stable facts of the package (0.109): in 2026 July 4 is a Saturday, observed on Friday
# July 3; California adds Cesar Chavez Day (Tuesday March 31), which the US as a whole does
# not have.
CESAR_CHAVEZ = date(2026, 3, 31)
JULY_3, JULY_4 = date(2026, 7, 3), date(2026, 7, 4)
US_CA = Holidays.of(country="US", subdivision="CA")


def test_a_country_and_subdivision_bring_their_public_holidays() -> None:
    assert JULY_4 in US_CA
    assert JULY_3 in US_CA
    assert CESAR_CHAVEZ in US_CA
    assert date(2027, 7, 5) in US_CA, "any year: 2027's July 4 is a Sunday, observed Monday"
    assert CESAR_CHAVEZ not in Holidays.of(country="US"), "a California holiday only"
    assert date(2026, 3, 30) not in US_CA
    assert US_CA.name_of(CESAR_CHAVEZ) == "Cesar Chavez Day"
    assert US_CA.describe(JULY_3) == "a public holiday (2026-07-03, Independence Day (observed))"
    assert date(2026, 1, 1) in Holidays.of(country="DE")
    assert date(2026, 1, 6) in Holidays.of(country="DE", subdivision="BY"), "Epiphany, Bavaria"
    assert date(2026, 1, 6) not in Holidays.of(country="DE", subdivision="BE")


def test_a_stored_region_the_package_no_longer_knows_does_not_stop_routing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    renamed = Holidays.of(country="US", subdivision="XX")
    assert JULY_4 in renamed, "the country's holidays still apply"
    assert CESAR_CHAVEZ not in renamed
    assert "US-XX is unknown to the holidays package" in caplog.text
    assert date(2026, 1, 1) not in Holidays.of(country="QQ")


def test_additions_and_removals() -> None:
    team = Holidays.of(
        {date(2026, 12, 24): "Christmas Eve", date(2026, 12, 31): None},
        country="US",
        subdivision="CA",
        removed=[CESAR_CHAVEZ],
    )
    assert CESAR_CHAVEZ not in team, "a public holiday the team works"
    assert JULY_3 in team
    assert date(2026, 12, 24) in team
    assert date(2026, 12, 31) in team
    assert team.describe(date(2026, 12, 24)) == "a team holiday (2026-12-24, Christmas Eve)"
    assert team.describe(date(2026, 12, 31)) == "a team holiday (2026-12-31)"
    march = team.between(date(2026, 3, 1), date(2026, 3, 31))
    assert march == []
    december = team.between(date(2026, 12, 1), date(2026, 12, 31))
    assert december == [
        (date(2026, 12, 24), "Christmas Eve", "team"),
        (date(2026, 12, 25), "Christmas Day", "public"),
        (date(2026, 12, 31), "holiday", "team"),
    ]


def test_a_router_calendar_closes_on_a_country_holiday() -> None:
    calendar = Calendar.of("America/Los_Angeles", DEFAULT_HOURS, US_CA)
    ten = datetime(2026, 3, 31, 10, 0, tzinfo=LA)
    assert not calendar.is_open(ten)
    assert calendar.add_minutes(ten, 5) == datetime(2026, 4, 1, 9, 5, tzinfo=LA)
    plain = Calendar.of("America/Los_Angeles", DEFAULT_HOURS)
    assert plain.add_minutes(ten, 5) == datetime(2026, 3, 31, 10, 5, tzinfo=LA)


def test_a_nurture_calendar_takes_the_same_holidays() -> None:
    calendar = CalendarDef(timezone="America/Los_Angeles", country="us", subdivision="ca")
    assert (calendar.country, calendar.subdivision) == ("US", "CA")
    thursday = datetime(2026, 7, 2, 10, 0, tzinfo=LA).astimezone(UTC)
    # Day 1 is Friday July 3 (observed): Monday July 6.
    assert due_at(calendar, "America/Los_Angeles", thursday, 1) == datetime(
        2026, 7, 6, 9, 0, tzinfo=LA
    )
    working = CalendarDef(timezone="America/Los_Angeles", country="US", worked_holidays=[JULY_3])
    assert due_at(working, "America/Los_Angeles", thursday, 1) == datetime(
        2026, 7, 3, 9, 0, tzinfo=LA
    )
    chavez = datetime(2026, 3, 31, 10, 0, tzinfo=LA)
    assert next_opening(calendar, "America/Los_Angeles", chavez) == datetime(
        2026, 4, 1, 9, 0, tzinfo=LA
    )


def test_a_nurture_calendar_may_take_the_leads_country_holidays() -> None:
    calendar = CalendarDef(timezone="America/New_York", country="US", lead_holidays=True)
    berlin = "Europe/Berlin"
    thursday = datetime(2026, 4, 30, 10, 0, tzinfo=ZoneInfo(berlin))
    monday = datetime(2026, 5, 4, 9, 0, tzinfo=ZoneInfo(berlin))
    assert due_at(calendar, berlin, thursday, 1, "de") == monday, "May 1: Labour Day in DE"
    assert due_at(calendar, berlin, thursday, 1, "US").date() == date(2026, 5, 1)
    assert due_at(calendar, berlin, thursday, 1, "Atlantis").date() == date(2026, 5, 1)
    assert days_off(calendar, None) is calendar.days_off
    own = CalendarDef(holidays=[date(2026, 5, 4)], lead_holidays=True)
    assert date(2026, 5, 4) in days_off(own, "DE"), "the calendar's own days off still apply"
    assert JULY_3 in days_off(calendar, "US")
    assert JULY_3 not in days_off(calendar, "DE")
    american = CalendarDef(timezone="America/New_York", country="US")
    assert JULY_3 in days_off(american, "DE"), "without lead_holidays, the calendar's"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"country": "XX"}, "country", "'XX' is not a country with known public holidays"),
        ({"country": "US", "subdivision": "ZZ"}, "subdivision", "'ZZ' is not a subdivision of US"),
        ({"subdivision": "CA"}, "subdivision", "a subdivision needs a country"),
        ({"worked_holidays": ["2026-07-03"]}, "worked_holidays", "set country"),
        (
            {"country": "US", "worked_holidays": ["2026-03-31"]},
            "worked_holidays",
            "2026-03-31 is not a public holiday of US",
        ),
        ({"holidays": ["2026-02-30"]}, "holidays.0", "day value is outside expected range"),
    ],
)
def test_a_bad_nurture_calendar_names_the_key(
    fields: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        CalendarDef.model_validate(fields)
    (error,) = caught.value.errors()
    assert ".".join(str(p) for p in error["loc"]) == field
    assert message in error["msg"]


async def test_a_team_takes_its_country_holidays_through_the_api(
    embedded: EmbeddedBackend,
) -> None:
    http = embedded.client("router")
    team = {
        "name": "West",
        "country": "us",
        "subdivision": "US-CA",
        "holidays": [{"date": "2026-12-24", "name": "Christmas Eve"}],
        "worked_holidays": ["2026-03-31"],
    }
    created = await http.put("/router/v1/teams/west", json=team, headers=ADMIN)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["country"], body["subdivision"], body["worked_holidays"]) == (
        "US",
        "CA",
        ["2026-03-31"],
    )
    listed = await http.get("/router/v1/teams/west/holidays?year=2026", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    days = {d["date"]: (d["name"], d["source"]) for d in listed.json()}
    assert days["2026-07-03"] == ("Independence Day (observed)", "public")
    assert days["2026-07-04"] == ("Independence Day", "public")
    assert days["2026-12-24"] == ("Christmas Eve", "team")
    assert "2026-03-31" not in days, "worked"
    again = await http.put(
        "/router/v1/teams/west",
        json={"name": "West", "country": "US", "subdivision": "CA"},
        headers=ADMIN,
    )
    assert again.status_code == 200, again.text
    listed = await http.get("/router/v1/teams/west/holidays?year=2026", headers=ADMIN)
    assert {d["date"]: d["name"] for d in listed.json()}["2026-03-31"] == "Cesar Chavez Day"
    missing = await http.get("/router/v1/teams/east/holidays", headers=ADMIN)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"country": "Utopia"}, "country", "'Utopia' is not a country with known public holidays"),
        ({"country": "US", "subdivision": "XY"}, "subdivision", "'XY' is not a subdivision of US"),
        ({"holidays": [{"date": "2026-13-01"}]}, "holidays.0.date", "valid date"),
        ({"country": "US", "worked_holidays": ["2026-07-05"]}, "worked_holidays", "not a public"),
    ],
)
async def test_bad_team_holidays_are_a_problem_naming_the_field(
    embedded: EmbeddedBackend, fields: dict[str, object], field: str, message: str
) -> None:
    http = embedded.client("router")
    response = await http.put(
        "/router/v1/teams/west", json={"name": "West", **fields}, headers=ADMIN
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    (error,) = response.json()["errors"]
    assert error["field"] == field
    assert message in error["message"]
    assert (await http.get("/router/v1/teams/west", headers=ADMIN)).status_code == 404
