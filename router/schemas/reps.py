"""Reps' request and response bodies: their fields, calendar and working hours, suspension."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    field_validator,
    model_validator,
)

from router.calendar import CalendarError, parse_week, zone
from router.records import Changer, RepRecord
from router.schemas.common import CRM_OWNER_IDS, ID_PATTERN, CrmKind, CrmOwnerId, Strict

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


WorkingHours = dict[Weekday, list[str]]


class OutOfOffice(Strict):
    start: AwareDatetime
    end: AwareDatetime
    reason: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _order(self) -> OutOfOffice:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


def default_hours() -> WorkingHours:
    """Monday to Friday, 09:00-17:00."""
    return {
        "mon": ["09:00-17:00"],
        "tue": ["09:00-17:00"],
        "wed": ["09:00-17:00"],
        "thu": ["09:00-17:00"],
        "fri": ["09:00-17:00"],
    }


def _check_zone(value: str) -> str:
    try:
        zone(value)
    except CalendarError as exc:
        raise ValueError(str(exc)) from exc
    return value


def _check_hours(value: WorkingHours) -> WorkingHours:
    try:
        parse_week(value)
    except CalendarError as exc:
        raise ValueError(str(exc)) from exc
    if not any(value.values()):
        raise ValueError("a rep needs some working hours in the week")
    return value


def _check_territories(values: list[str]) -> list[str]:
    out = []
    for v in values:
        t = v.strip().upper()
        country, _, region = t.partition("-")
        if len(country) != 2 or not country.isalpha() or (t.endswith("-") and not region):
            raise ValueError(f"{v!r} is not a territory (DE, or country-region as US-CA)")
        out.append(t)
    return out


class RepFields(Strict):
    """Everything about a rep a manager may set (all optional: the PATCH body)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, min_length=3, max_length=320)
    time_zone: str | None = Field(None, description="IANA time zone, e.g. Europe/Berlin")
    working_hours: WorkingHours | None = Field(
        None, description='Local hours per weekday, e.g. {"mon": ["09:00-12:00", "13:00-17:00"]}'
    )
    languages: list[str] | None = Field(None, description="Language codes the rep speaks")
    territories: list[str] | None = Field(None, description="Countries (DE) or regions (US-CA)")
    weight: int | None = Field(None, ge=1, le=100)
    max_open_leads: int | None = Field(None, ge=1, description="Capacity: open leads at most")
    daily_cap: int | None = Field(None, ge=1, description="New leads per local day at most")
    out_of_office: list[OutOfOffice] | None = None
    team_id: str | None = Field(None, max_length=64)
    active: bool | None = None
    crm_owner_ids: dict[CrmKind, CrmOwnerId] | None = Field(None, description=CRM_OWNER_IDS)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: WorkingHours | None) -> WorkingHours | None:
        return None if value is None else _check_hours(value)

    @field_validator("territories")
    @classmethod
    def _territories(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_territories(value)

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [v.strip().lower() for v in value if v.strip()]


class RepIn(Strict):
    """A new rep. The defaults make them eligible at once: UTC, Monday to Friday 09:00-17:00,
    weight 1, no caps."""

    id: str | None = Field(None, min_length=1, max_length=64, pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    time_zone: str = "UTC"
    working_hours: WorkingHours = Field(default_factory=default_hours)
    languages: list[str] = Field(default_factory=list)
    territories: list[str] = Field(default_factory=list)
    weight: int = Field(1, ge=1, le=100)
    max_open_leads: int | None = Field(None, ge=1)
    daily_cap: int | None = Field(None, ge=1)
    out_of_office: list[OutOfOffice] = Field(default_factory=list)
    team_id: str | None = Field(None, max_length=64)
    active: bool = True
    crm_owner_ids: dict[CrmKind, CrmOwnerId] = Field(
        default_factory=dict, description=CRM_OWNER_IDS
    )

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: WorkingHours) -> WorkingHours:
        return _check_hours(value)

    @field_validator("territories")
    @classmethod
    def _territories(cls, value: list[str]) -> list[str]:
        return _check_territories(value)

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value if v.strip()]


class ChangedBy(BaseModel):
    key_id: str = Field(
        description="The API key that made the change (`env-admin`: LEADFARM_ADMIN_KEY; "
        "`migration`: as it was before versioning)"
    )
    name: str | None = Field(None, description="The key's name")

    @classmethod
    def of(cls, changer: Changer) -> ChangedBy:
        return cls(key_id=changer.key_id, name=changer.name)


class RepOut(BaseModel):
    id: str
    name: str
    email: str
    weight: int
    active: bool
    created_at: datetime
    time_zone: str
    working_hours: dict[str, list[str]]
    languages: list[str]
    territories: list[str]
    max_open_leads: int | None
    daily_cap: int | None
    out_of_office: list[OutOfOffice]
    team_id: str | None
    crm_owner_ids: dict[str, str] = Field(default_factory=dict, description=CRM_OWNER_IDS)
    suspended: bool = False
    suspended_at: datetime | None = None
    suspended_reason: str | None = None
    reinstated_at: datetime | None = None
    updated_at: datetime | None = None
    changed_by: ChangedBy | None = Field(
        None, description="Who made the last change through the API (none: not recorded yet)"
    )
    suspended_by: ChangedBy | None = Field(
        None,
        description="Who suspended the rep by hand (none while suspended: the router, "
        "for SLA compliance)",
    )

    @classmethod
    def of(cls, rep: RepRecord) -> RepOut:
        return cls.model_validate(rep, from_attributes=True)


class ReinstateIn(Strict):
    reason: str | None = Field(None, max_length=500)


class SuspendIn(Strict):
    reason: str = Field(
        min_length=1, max_length=500, description="Why: shown with the rep and on the event"
    )

    @field_validator("reason")
    @classmethod
    def _reason(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("give a reason")
        return reason.strip()
