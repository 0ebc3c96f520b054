"""audit's HTTP request and response bodies; a response is made `of` the domain record the
service returns."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from audit.money import from_cents
from audit.projection import stage_name
from contracts.events import AuditOutcome, AuditReason
from services.controlchars import refuse_control_characters

if TYPE_CHECKING:
    from audit import erasures, forecast, leads
    from audit.records import (
        EntryRow,
        LeadMatch,
        LeadRow,
        RequestRow,
        RoleRow,
        SatisfactionAuditRow,
        SpendRow,
    )

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class Timeline(BaseModel):
    lead_id: str
    events: list[dict[str, Any]]


class ArchivePage(BaseModel):
    """A page of archived events (CloudEvents), oldest first."""

    events: list[dict[str, Any]]
    next: str | None = Field(description="Pass as `after` for the next page; null on the last page")
    total: int | None = Field(
        None, description="Events in the window (first page only, when `after` is not given)"
    )


class StoryLine(BaseModel):
    """One event of a lead's timeline, told in a line (audit/story.py)."""

    time: datetime
    event: str = Field(description="The event's type without prefix and version: lead.assigned")
    what: str = Field(description="What happened, in words; never the prospect's contact data")
    who: str = Field(description="Who did it: `rep <id>`, `key <id>`, or the service that said it")


class TimelineSummary(BaseModel):
    lead_id: str
    events: list[StoryLine]


class LeadListItem(BaseModel):
    """One lead as audit sees it. Listed, it carries no personal data; found by a search
    (`q`), it shows its email and company and its rep's name, to trace it."""

    lead_id: str
    email: str | None = Field(None, description="Found by a search only: its latest email")
    company: str | None = Field(None, description="Found by a search only")
    source: str | None
    source_class: str | None = None
    stage: Literal["raw", "basic_qualified", "sales_qualified"]
    rep_id: str | None
    rep_name: str | None = Field(None, description="Found by a search only: the rep's name")
    captured_at: datetime | None
    qualified_at: datetime | None = None
    disqualified_at: datetime | None = None
    assigned_at: datetime | None = None
    first_touch_at: datetime | None = None
    won_at: datetime | None = None
    lost_at: datetime | None = None
    erased_at: datetime | None = None

    @classmethod
    def of_match(cls, match: LeadMatch) -> LeadListItem:
        values = {k: v for k, v in match.__dict__.items() if k != "stage_rank"}
        return cls(**values, stage=stage_name(match.stage_rank))

    @classmethod
    def of_lead(cls, lead: LeadRow) -> LeadListItem:
        values = {k: v for k, v in lead.__dict__.items() if k in cls.model_fields}
        return cls(**values, stage=stage_name(lead.stage_rank))


# --- Prospect Satisfaction audits -----------------------------------------------------------


class AuditOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    lead_id: str = Field(min_length=1, max_length=64)


class AuditOutcomeIn(BaseModel):
    """What the prospect said when asked how they were treated."""

    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    contacted: bool = Field(description="Did anyone from sales contact the prospect?")
    contact_count: int = Field(0, ge=0, le=100, description="How often, as the prospect recalls")
    contacted_by: str | None = Field(
        None, max_length=200, description="Who contacted them (a rep id or the name they give)"
    )
    contacted_within: Literal["hour", "day", "week", "longer"] | None = Field(
        None, description="How soon after they asked"
    )
    satisfaction: int | None = Field(None, ge=1, le=5, description="1 (poor) to 5 (excellent)")
    outcome: AuditOutcome
    comment: str | None = Field(None, max_length=4000)

    @model_validator(mode="after")
    def _consistent(self) -> AuditOutcomeIn:
        if not self.contacted:
            wrong = [
                name
                for name, value in (
                    ("contact_count", self.contact_count),
                    ("contacted_by", self.contacted_by),
                    ("contacted_within", self.contacted_within),
                )
                if value
            ]
            if wrong:
                raise ValueError(
                    f"{', '.join(wrong)} must be empty when the prospect was not contacted"
                )
        elif self.contact_count == 0:
            raise ValueError("contact_count must be at least 1 when the prospect was contacted")
        return self


class AuditOut(BaseModel):
    id: str
    lead_id: str
    reason: AuditReason | str
    status: Literal["open", "recorded"] | str
    opened_at: datetime
    due_at: datetime
    rep_id: str | None = None
    source: str | None = None
    source_class: str | None = None
    contacted: bool | None = None
    contact_count: int | None = None
    contacted_by: str | None = None
    contacted_within: str | None = None
    satisfaction: int | None = None
    outcome: str | None = None
    comment: str | None = None
    logged_contact: bool | None = Field(
        None, description="Whether a rep had logged a contact before the audit was recorded"
    )
    recorded_at: datetime | None = None
    recorded_by: str | None = None

    @classmethod
    def of(cls, audit: SatisfactionAuditRow) -> AuditOut:
        return cls.model_validate(audit.__dict__)


# --- the forecast ---------------------------------------------------------------------------


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2000, description="Why; kept with the record")


class ForecastEntryOut(BaseModel):
    id: str
    lead_id: str
    status: Literal["open", "won", "removed"] | str
    amount: Decimal
    currency: str
    period: str = Field(description="Expected close month, YYYY-MM")
    expected_close_at: datetime
    entered_at: datetime
    source: str | None
    source_class: str | None
    rep_id: str | None
    removed_at: datetime | None = None
    removal_request_id: str | None = None

    @classmethod
    def of(cls, entry: EntryRow) -> ForecastEntryOut:
        values = {k: v for k, v in entry.__dict__.items() if k != "amount_cents"}
        return cls(amount=from_cents(entry.amount_cents), **values)


class RemovalRequestOut(BaseModel):
    id: str
    lead_id: str
    entry_id: str
    status: Literal["pending", "approved", "denied"] | str
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None

    @classmethod
    def of(cls, request: RequestRow) -> RemovalRequestOut:
        return cls.model_validate(request.__dict__)


class ForecastRow(BaseModel):
    key: str = Field(description="The period, source, source class or rep id")
    open_leads: int
    open_amount: Decimal
    won_leads: int
    won_amount: Decimal
    pending_removal: int
    removed_leads: int

    @classmethod
    def of(cls, totals: forecast.Totals) -> ForecastRow:
        return cls.model_validate(totals.__dict__)


class ForecastBasis(BaseModel):
    share: Decimal = Field(description="Share of the average deal size a lead is worth")
    average_deal_size: Decimal
    learned: bool = Field(description="True once the average comes from closed-won deals")
    won_deals: int
    min_won_deals: int
    per_lead: Decimal = Field(description="What a lead entering the forecast now is worth")

    @classmethod
    def of(cls, basis: forecast.Basis) -> ForecastBasis:
        return cls(
            share=basis.share,
            average_deal_size=from_cents(basis.average_cents),
            learned=basis.learned,
            won_deals=basis.won_deals,
            min_won_deals=basis.min_won_deals,
            per_lead=from_cents(basis.per_lead_cents),
        )


class ForecastOut(BaseModel):
    currency: str
    basis: ForecastBasis
    total: ForecastRow
    by_period: list[ForecastRow]
    by_source: list[ForecastRow]
    by_source_class: list[ForecastRow]
    by_rep: list[ForecastRow]

    @classmethod
    def of(cls, summary: forecast.Summary) -> ForecastOut:
        return cls(
            currency=summary.currency,
            basis=ForecastBasis.of(summary.basis),
            total=ForecastRow.of(summary.total),
            by_period=[ForecastRow.of(t) for t in summary.by_period],
            by_source=[ForecastRow.of(t) for t in summary.by_source],
            by_source_class=[ForecastRow.of(t) for t in summary.by_source_class],
            by_rep=[ForecastRow.of(t) for t in summary.by_rep],
        )


# --- spend, roles, erasures -----------------------------------------------------------------


class SpendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: str | None = Field(None, min_length=3, max_length=3)
    note: str | None = Field(None, max_length=500)


class SpendOut(BaseModel):
    source: str
    period: str
    amount: Decimal
    currency: str
    note: str | None
    updated_by: str
    updated_at: datetime

    @classmethod
    def of(cls, row: SpendRow) -> SpendOut:
        values = {k: v for k, v in row.__dict__.items() if k != "amount_cents"}
        return cls(amount=from_cents(row.amount_cents), **values)


class RoleGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    key_id: str = Field(min_length=1, max_length=32, description="The id of a manager key")


class RoleOut(BaseModel):
    key_id: str
    role: str
    granted_by: str
    granted_at: datetime
    revoked_by: str | None = None
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, role: RoleRow) -> RoleOut:
        return cls.model_validate(role.__dict__)


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    lead_id: str = Field(min_length=1, max_length=64)


class ErasureConfirmation(BaseModel):
    service: str
    records: int = Field(description="Rows the service erased or anonymised")
    confirmed_at: datetime


class ErasureOut(BaseModel):
    """An erasure and its progress: audit erases its own store with the request; the other
    services confirm through `<service>.erasure_completed` events."""

    lead_id: str
    requested_by: str
    requested_at: datetime
    events_redacted: int
    id: str | None = Field(None, description="The erasure's id (GET /audit/v1/erasures/{id})")
    confirmations: list[ErasureConfirmation] = Field(
        default_factory=list, description="The services that have erased the person, audit first"
    )
    pending: list[str] = Field(
        default_factory=list, description="The services that have not confirmed yet"
    )
    complete: bool = Field(False, description="Every service has confirmed")

    @classmethod
    def of(cls, progress: erasures.Progress) -> ErasureOut:
        return cls(
            **progress.erasure.__dict__,
            confirmations=[
                ErasureConfirmation(
                    service=c.service, records=c.records, confirmed_at=c.confirmed_at
                )
                for c in progress.confirmations
            ],
            pending=progress.pending,
            complete=progress.complete,
        )


# --- a lead's summary -----------------------------------------------------------------------


class LeadSummary(BaseModel):
    """What audit knows about one lead, without personal data; the story is the timeline."""

    lead_id: str
    source: str | None
    source_class: str | None
    campaign: str | None
    is_test: bool
    stage: Literal["raw", "basic_qualified", "sales_qualified"]
    term: str | None
    captured_at: datetime | None
    qualified_at: datetime | None
    disqualified_at: datetime | None
    rep_id: str | None
    assigned_at: datetime | None
    first_touch_due_at: datetime | None
    first_touch_at: datetime | None
    touches: int
    accepted_at: datetime | None
    opportunity_at: datetime | None
    won_at: datetime | None
    lost_at: datetime | None
    returned_at: datetime | None
    erased_at: datetime | None
    events: int
    forecast: list[ForecastEntryOut]
    audits: list[AuditOut]

    @classmethod
    def of(cls, summary: leads.Summary) -> LeadSummary:
        values = {k: v for k, v in summary.lead.__dict__.items() if k != "stage_rank"}
        return cls(
            **values,
            stage=stage_name(summary.lead.stage_rank),
            events=summary.events,
            forecast=[ForecastEntryOut.of(e) for e in summary.forecast],
            audits=[AuditOut.of(a) for a in summary.audits],
        )


class RepNameOut(BaseModel):
    rep_id: str
    name: str


def check_period(value: str | None, field: str) -> str | None:
    """A YYYY-MM month, or None; raises ValueError naming `field`. ASCII digits only (the
    pattern's \\d also matches other scripts' digits), and years 0001 to 9998: a month's
    bounds are datetimes, and year 0 or the month after 9999-12 has none."""
    if value is not None and not (
        value.isascii() and PERIOD.match(value) and "0001" <= value[:4] <= "9998"
    ):
        raise ValueError(f"{field} must be a month as YYYY-MM, e.g. 2026-03 (years 0001 to 9998)")
    return value
