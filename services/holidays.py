"""Days off: a country's public holidays (and its subdivision's), plus a calendar's own
additions, less the public holidays it works anyway.

The one way Leadfarm's business calendars know their holidays: the router's team
calendars (router/calendar.py) and nurture's track calendars (nurture/calendar.py) both
hold a `Holidays`. The public holidays come from the `holidays` package (maintained, one
release a month with the countries' changes), looked up a year at a time and cached.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Literal

import holidays as holiday_data
from pydantic import BaseModel, Field, ValidationInfo, field_validator

Source = Literal["public", "team"]

log = logging.getLogger(__name__)


class HolidayError(ValueError):
    """A country, subdivision or date that cannot be used; `field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@lru_cache(maxsize=1)
def _countries() -> dict[str, tuple[str, ...]]:
    return {
        code: tuple(subdivisions)
        for code, subdivisions in holiday_data.list_supported_countries(
            include_aliases=False
        ).items()
    }


def check_country(country: str) -> str:
    """The ISO 3166-1 alpha-2 code `country` (any case) in upper case, or HolidayError."""
    code = country.strip().upper()
    if code not in _countries():
        raise HolidayError(
            "country",
            f"{country!r} is not a country with known public holidays "
            "(use an ISO 3166-1 alpha-2 code such as US or DE)",
        )
    return code


def check_subdivision(country: str, subdivision: str) -> str:
    """`subdivision` of `country` (an ISO 3166-2 code without the country: CA for US-CA),
    in the package's spelling, or HolidayError listing the known ones."""
    known = _countries()[check_country(country)]
    wanted = subdivision.strip().upper().removeprefix(f"{country.strip().upper()}-")
    for code in known:
        if code.upper() == wanted:
            return code
    listed = ", ".join(known) if known else "none"
    raise HolidayError(
        "subdivision",
        f"{subdivision!r} is not a subdivision of {country.upper()} (known: {listed})",
    )


@lru_cache(maxsize=512)
def public_holidays(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    """The public holidays of `country` (and `subdivision`) in `year`, with their names
    (in English where the package has them; several on one day joined by '; ').

    A stored country or subdivision that a later release of the package no longer knows
    (renamed, say) must not stop routing: the country's holidays are used without the
    subdivision, or none, and a warning says so (once per year asked)."""
    try:
        entity = holiday_data.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        if subdivision is not None:
            log.warning(
                "public holidays: %s-%s is unknown to the holidays package; using %s's",
                country,
                subdivision,
                country,
            )
            return public_holidays(country, None, year)
        log.warning("public holidays: %s is unknown to the holidays package; none used", country)
        return {}
    language = "en_US" if "en_US" in entity.supported_languages else None
    days = holiday_data.country_holidays(country, subdiv=subdivision, years=year, language=language)
    return {day: days[day] for day in sorted(days)}


@dataclass(frozen=True)
class Holidays:
    """A calendar's days off. `added` are its own (with an optional name); `removed` are
    public holidays it works anyway. Answers `day in holidays` for any year."""

    country: str | None = None
    subdivision: str | None = None
    added: tuple[tuple[date, str | None], ...] = ()
    removed: frozenset[date] = frozenset()
    _added: dict[date, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        self._added.update(self.added)

    @classmethod
    def of(
        cls,
        added: Iterable[date] | Mapping[date, str | None] = (),
        *,
        country: str | None = None,
        subdivision: str | None = None,
        removed: Iterable[date] = (),
    ) -> Holidays:
        pairs = (
            tuple(sorted(added.items()))
            if isinstance(added, Mapping)
            else tuple((d, None) for d in sorted(set(added)))
        )
        return cls(country, subdivision, pairs, frozenset(removed))

    def _public(self, day: date) -> str | None:
        if self.country is None or day in self.removed:
            return None
        return public_holidays(self.country, self.subdivision, day.year).get(day)

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        return day in self._added or self._public(day) is not None

    def name_of(self, day: date) -> str | None:
        """What the day off is called ('holiday' when a team added it without a name);
        None when `day` is not a holiday."""
        if day in self._added:
            return self._added[day] or "holiday"
        return self._public(day)

    def source_of(self, day: date) -> Source | None:
        if day in self._added:
            return "team"
        return "public" if self._public(day) is not None else None

    def between(self, first: date, last: date) -> list[tuple[date, str, Source]]:
        """Every day off in [first, last], in order: (date, name, where it comes from)."""
        out: list[tuple[date, str, Source]] = []
        days = set(self._added)
        if self.country is not None:
            for year in range(first.year, last.year + 1):
                days.update(public_holidays(self.country, self.subdivision, year))
        for day in sorted(d for d in days if first <= d <= last):
            name, source = self.name_of(day), self.source_of(day)
            if name is not None and source is not None:
                out.append((day, name, source))
        return out

    def describe(self, day: date) -> str:
        """'a public holiday (2026-07-03, Independence Day (observed))', 'a team holiday
        (2026-12-24)': what a routing explanation says about a day off."""
        if day in self._added:
            name, kind = self._added[day], "a team holiday"
        else:
            name, kind = self._public(day), "a public holiday"
        return f"{kind} ({day.isoformat()}, {name})" if name else f"{kind} ({day.isoformat()})"


def region_name(country: str, subdivision: str | None) -> str:
    return f"{country}-{subdivision}" if subdivision else country


class PublicHolidaysIn(BaseModel):
    """The fields a calendar uses to take a country's public holidays: the router's teams
    and nurture's track calendars both have them, validated the same way."""

    country: str | None = Field(
        None,
        description="ISO 3166-1 alpha-2 code (US, DE...): its public holidays are days off",
    )
    subdivision: str | None = Field(
        None,
        description="ISO 3166-2 subdivision of the country without its prefix (CA for US-CA, "
        "BY for DE-BY): adds the subdivision's own public holidays",
    )
    worked_holidays: list[date] = Field(
        default_factory=list,
        description="Public holidays of the country that are worked anyway (dates)",
    )

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else check_country(value)

    @field_validator("subdivision")
    @classmethod
    def _subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if "country" not in info.data:
            return value  # the country is invalid, and reported as such
        country = info.data["country"]
        if country is None:
            raise HolidayError("subdivision", "a subdivision needs a country")
        return check_subdivision(country, value)

    @field_validator("worked_holidays")
    @classmethod
    def _worked(cls, value: list[date], info: ValidationInfo) -> list[date]:
        if not value or "country" not in info.data or "subdivision" not in info.data:
            return value
        country, subdivision = info.data["country"], info.data["subdivision"]
        if country is None:
            raise HolidayError(
                "worked_holidays", "only a country's public holidays can be worked: set country"
            )
        region = region_name(country, subdivision)
        for day in value:
            if day not in public_holidays(country, subdivision, day.year):
                raise HolidayError(
                    "worked_holidays", f"{day.isoformat()} is not a public holiday of {region}"
                )
        return sorted(set(value))
