"""Teams (with their holidays) and account owners."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import (
    BaseModel,
    Field,
)

from router.records import AccountRecord, TeamRecord
from router.schemas.common import Strict
from services.holidays import PublicHolidaysIn


class Holiday(Strict):
    date: date
    name: str | None = Field(None, max_length=200)


class TeamIn(Strict, PublicHolidaysIn):
    """A team: its name and its days off, which are the public holidays of `country` (and
    `subdivision`) less `worked_holidays`, plus its own `holidays`."""

    name: str = Field(min_length=1, max_length=200)
    holidays: list[Holiday] = Field(
        default_factory=list,
        description="The team's own days off (local dates), on top of the public holidays",
    )


class TeamOut(BaseModel):
    id: str
    name: str
    country: str | None = None
    subdivision: str | None = None
    holidays: list[Holiday]
    worked_holidays: list[date] = []
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, team: TeamRecord) -> TeamOut:
        return cls.model_validate(team, from_attributes=True)


class TeamHolidayOut(BaseModel):
    date: date
    name: str
    source: Literal["public", "team"] = Field(
        description="`public`: the country's (or subdivision's); `team`: the team's own"
    )


class AccountIn(Strict):
    rep_id: str = Field(min_length=1, max_length=64)


class AccountOut(BaseModel):
    domain: str
    rep_id: str
    created_at: datetime
    updated_at: datetime
    source: Literal["manual", "connector"] = Field(
        "manual",
        description="manual: set through the API or the console; connector: synced from a "
        "CRM by `connector_id` (its account `external_id`), which changes it again when "
        "the account changes there",
    )
    connector_id: str | None = None
    external_id: str | None = None

    @classmethod
    def of(cls, account: AccountRecord) -> AccountOut:
        return cls.model_validate(account, from_attributes=True)
