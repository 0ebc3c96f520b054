"""router's HTTP request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import httpx
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from contracts.events import EVENT_TYPES, Channel, LeadProfile, SourceClass
from router.calendar import CalendarError, parse_week, zone
from router.distribution import FallbackStrategy, OutsideHours, SourcedLeads, Strategy
from router.records import Cadence, FirstTouch, LeadStatus, RejectOutcome
from router.rules import Conditions
from services.controlchars import refuse_control_characters
from services.holidays import Holidays, PublicHolidaysIn

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WorkingHours = dict[Weekday, list[str]]
Outcome = Literal[
    "no_answer",
    "voicemail",
    "connected",
    "bad_number",
    "not_interested",
    "meeting_booked",
    "sent",
    "replied",
    "bounced",
    "held",
    "no_show",
    "other",
]
DeliveryStatus = Literal["pending", "delivered", "dead"]
ID_PATTERN = r"^[A-Za-z0-9._-]+$"

CrmKind = Literal["hubspot", "salesforce", "slack", "webhook"]
"""The CRMs Leadfarm has connectors for (router/connectors/)."""
CrmOwnerId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")
]
CRM_OWNER_IDS = (
    'The rep\'s id in each CRM, by connector kind, e.g. {"hubspot": "123"} (a HubSpot '
    'owner id), {"salesforce": "005..."} (a Salesforce user id) or {"webhook": '
    '"dialer-user-17"} (their user id in a dialer or sequencer posting the generic activity '
    "webhook): who owns the records a connector writes, and who logged an activity a "
    "connector takes in"
)

ROUTER_EVENT_TYPES = sorted(t for t, m in EVENT_TYPES.items() if m.SERVICE == "router")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)


# --- reps, teams, accounts -------------------------------------------------------------


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

    def days_off(self) -> Holidays:
        return Holidays.of(
            {h.date: h.name for h in self.holidays},
            country=self.country,
            subdivision=self.subdivision,
            removed=self.worked_holidays,
        )


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


# --- pools and rules ---------------------------------------------------------------------


class SlaIn(Strict):
    """A pool's contact-cadence SLA; unset values take the router's settings."""

    first_touch_minutes: float | None = Field(None, gt=0, description="Business minutes")
    calls: int | None = Field(None, ge=0, description="Calls required in the cadence")
    emails: int | None = Field(None, ge=0, description="Emails required in the cadence")
    business_days: int | None = Field(None, ge=1, description="The cadence's window")
    min_spacing_minutes: float | None = Field(
        None, ge=0, description="Business minutes between two counted calls (or emails)"
    )
    reassign_on_missed_first_touch: bool | None = None
    max_reassignments: int | None = Field(None, ge=0)


class Sla(BaseModel):
    """The SLA in force, every value resolved."""

    first_touch_minutes: float
    calls: int
    emails: int
    business_days: int
    min_spacing_minutes: float
    reassign_on_missed_first_touch: bool
    max_reassignments: int


class PoolIn(Strict):
    name: str | None = Field(None, max_length=200)
    strategy: Strategy = "round_robin"
    members: list[str] = Field(
        default_factory=list, description="Rep ids; with `teams` empty too, every rep"
    )
    teams: list[str] = Field(default_factory=list, description="Every rep of these teams")
    outside_hours: OutsideHours = Field(
        "assign",
        description="assign: hours do not gate (the SLA clock starts with the rep's day); "
        "hold: only reps in hours, else hold until the next rep's hours; skip: only reps in "
        "hours, else the fallback queue",
    )
    match_territory: bool = False
    match_language: bool = False
    owner_fallback: FallbackStrategy = "round_robin"
    sourced_leads: SourcedLeads = Field(
        "sourcing_rep",
        description="sourcing_rep: a lead a rep submitted (rep prospecting, a referral at the "
        "close) stays with that rep; pool: it is distributed like any other lead",
    )
    sla: SlaIn = Field(default_factory=SlaIn)


class PoolOut(BaseModel):
    id: str
    name: str
    strategy: Strategy
    members: list[str]
    teams: list[str]
    outside_hours: OutsideHours
    match_territory: bool
    match_language: bool
    owner_fallback: FallbackStrategy
    sourced_leads: SourcedLeads = "sourcing_rep"
    sla: SlaIn
    effective_sla: Sla | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int | None = Field(None, description="The version of its last change")
    changed_by: ChangedBy | None = Field(None, description="Who made its last change")


class RuleIn(Strict):
    name: str | None = Field(None, max_length=200)
    position: int = Field(100, ge=0, le=1_000_000, description="Rules are tried lowest first")
    conditions: Conditions = Field(default_factory=Conditions)
    pool: str = Field(min_length=1, max_length=100)
    enabled: bool = True


class RuleOut(BaseModel):
    id: str
    name: str
    position: int
    conditions: Conditions
    pool: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    version: int | None = Field(None, description="The version of its last change")
    changed_by: ChangedBy | None = Field(None, description="Who made its last change")


# --- versions of rules and pools -----------------------------------------------------------

ConfigAction = Literal["created", "changed", "deleted"]


class RuleVersionOut(BaseModel):
    version: int = Field(description="Rules and pools share one sequence of versions")
    rule_id: str
    action: ConfigAction
    rule: RuleIn | None = Field(description="The rule after the change; null when deleted")
    restored_from: int | None = Field(
        None, description="A rollback's change: the version it restored"
    )
    changed_by: ChangedBy
    changed_at: datetime


class PoolVersionOut(BaseModel):
    version: int = Field(description="Rules and pools share one sequence of versions")
    pool_id: str
    action: ConfigAction
    pool: PoolIn | None = Field(description="The pool after the change; null when deleted")
    restored_from: int | None = Field(
        None, description="A rollback's change: the version it restored"
    )
    changed_by: ChangedBy
    changed_at: datetime


class RuleAsOf(RuleIn):
    id: str


class PoolAsOf(PoolIn):
    id: str


class RulesAsOfOut(BaseModel):
    version: int
    rules: list[RuleAsOf] = Field(description="Every rule as it was then, in the order tried")


class PoolsAsOfOut(BaseModel):
    version: int
    pools: list[PoolAsOf]


class RulesRollbackIn(Strict):
    version: int = Field(ge=1, description="Restore the rules as they were right after it")
    rule: str | None = Field(
        None, min_length=1, max_length=100, description="Only this rule; without it, every rule"
    )


class PoolsRollbackIn(Strict):
    version: int = Field(ge=1, description="Restore the pools as they were right after it")
    pool: str | None = Field(
        None, min_length=1, max_length=100, description="Only this pool; without it, every pool"
    )


class RulesRollbackOut(BaseModel):
    restored: int
    changes: list[RuleVersionOut] = Field(
        description="The new versions the rollback made (none when nothing differed)"
    )
    rules: list[RuleOut] = Field(description="Every rule now, in the order tried")


class PoolsRollbackOut(BaseModel):
    restored: int
    changes: list[PoolVersionOut]
    pools: list[PoolOut]


# --- leads and assignments ---------------------------------------------------------------


class Attempts(BaseModel):
    required: int
    counted: int
    made: int


class CadenceOut(BaseModel):
    status: Cadence
    due_at: datetime
    calls: Attempts
    emails: Attempts
    min_spacing_minutes: float
    connected_at: datetime | None
    resolved_at: datetime | None


class HistoryOut(BaseModel):
    assignment_id: str
    rep_id: str
    kind: str
    pool: str
    rule: str
    strategy: str
    assigned_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    first_touch: FirstTouch
    cadence: Cadence


class AssignmentOut(BaseModel):
    """A lead at the router: where it is, who has it, its deadlines and why."""

    lead_id: str
    status: LeadStatus
    rep_id: str | None
    assignment_id: str | None
    pool: str | None
    rule: str | None
    strategy: str | None
    queue: str | None = None
    held_until: datetime | None = None
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    first_touch_due_at: datetime | None = None
    touched_at: datetime | None = None
    first_touch: FirstTouch | None = None
    cadence: CadenceOut | None = None
    return_reason: str | None = None
    explanation: dict[str, Any] | None = None
    history: list[HistoryOut] = Field(default_factory=list)
    score: int | None = None
    lead: LeadProfile | None = None
    created_at: datetime
    updated_at: datetime


class ActivityIn(Strict):
    channel: Channel
    outcome: Outcome = Field(
        description="call: no_answer, voicemail, connected, bad_number, not_interested, "
        "meeting_booked; email: sent, replied, bounced; meeting: held, no_show; or other"
    )
    note: str | None = Field(None, max_length=4000)


class ActivityOut(BaseModel):
    id: str
    lead_id: str
    rep_id: str
    channel: Channel
    outcome: str
    at: datetime
    assignment_id: str | None = None
    counted: bool | None = None
    connected: bool | None = None
    note: str | None = None


class RejectIn(Strict):
    reason: str = Field(min_length=1, max_length=500)
    disposition: Literal["reassign", "return"] = Field(
        "reassign",
        description="reassign: to the next eligible rep (returned when there is none); "
        "return: straight back to marketing",
    )


class RejectOut(BaseModel):
    lead_id: str
    outcome: RejectOutcome


class AssignIn(Strict):
    rep_id: str | None = Field(
        None, max_length=64, description="Give it to this rep; without it, route it again"
    )
    reason: str | None = Field(None, max_length=500)


class OpportunityIn(Strict):
    amount: Decimal = Field(ge=0, max_digits=16, decimal_places=2)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    name: str | None = Field(None, max_length=200)


class CloseIn(Strict):
    won: bool
    amount: Decimal | None = Field(None, ge=0, max_digits=16, decimal_places=2)
    reason: str | None = Field(None, max_length=500)


class OpportunityOut(BaseModel):
    id: str
    lead_id: str
    rep_id: str
    name: str | None
    amount: Decimal
    currency: str
    status: Literal["open", "won", "lost"]
    reason: str | None
    opened_at: datetime
    closed_at: datetime | None


class RepLeadOut(BaseModel):
    lead_id: str
    status: LeadStatus
    assignment_id: str | None
    assigned_at: datetime | None
    first_touch_due_at: datetime | None
    touched_at: datetime | None
    first_touch: FirstTouch | None
    cadence_due_at: datetime | None
    cadence: Cadence | None
    score: int | None
    lead: LeadProfile


class ShareOut(BaseModel):
    due: int
    met: int
    share: float | None


class ComplianceOut(BaseModel):
    rep_id: str
    window_days: int
    since: datetime = Field(
        description="The start of the rolling window, or the reinstatement when it is later"
    )
    until: datetime
    first_touch: ShareOut = Field(description="Leads whose first-touch deadline was met")
    cadence: ShareOut = Field(description="Cadences completed (connected or every attempt made)")
    obligations: int
    compliance: float | None = Field(description="Obligations met over obligations due")
    threshold: float
    min_obligations: int
    suspended: bool
    suspended_at: datetime | None
    suspended_reason: str | None
    reinstated_at: datetime | None = None


# --- dry run ------------------------------------------------------------------------------


class DryRunLead(Strict):
    """A lead's profile as rules see it (any field a rule's condition may test)."""

    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    company_domain: str | None = None
    job_title: str | None = None
    industry: str | None = None
    employees: int | None = Field(None, ge=0)
    country: str | None = Field(None, min_length=2, max_length=2)
    region: str | None = None
    language: str | None = None
    product_interest: list[str] = Field(default_factory=list)
    timeframe_days: int | None = Field(None, ge=0)
    asked_to_be_contacted: bool = False
    has_budget: bool | None = None
    need: str | None = None
    source: str = "dry-run"
    source_class: SourceClass = "marketing"
    campaign: str | None = None
    flags: list[str] = Field(default_factory=list)
    answers: dict[str, str] = Field(
        default_factory=dict, description="Form answers, question -> answer"
    )
    utm: dict[str, str] = Field(
        default_factory=dict, description='UTM values, e.g. {"utm_source": "linkedin"}'
    )
    sourced_by_rep_id: str | None = None


class DryRunIn(Strict):
    lead: DryRunLead | None = None
    lead_id: str | None = Field(None, description="Route a lead the router knows again")
    score: int | None = Field(None, ge=0, le=100)

    @model_validator(mode="after")
    def _one(self) -> DryRunIn:
        if (self.lead is None) == (self.lead_id is None):
            raise ValueError("send either lead or lead_id")
        return self


class DryRunOut(BaseModel):
    outcome: Literal["assign", "hold", "queue"]
    rep_id: str | None
    pool: str
    rule: str
    strategy: str
    why: str
    first_touch_due_at: datetime | None
    cadence_due_at: datetime | None
    held_until: datetime | None
    explanation: dict[str, Any]


# --- webhook subscriptions ----------------------------------------------------------------


def normalise_event_type(name: str) -> str:
    """`lead.assigned` or `leadfarm.lead.assigned.v1` -> the router's versioned type."""
    if name in ROUTER_EVENT_TYPES:
        return name
    for event_type in ROUTER_EVENT_TYPES:
        short = event_type.removeprefix("leadfarm.").rsplit(".", 1)[0]
        if name == short:
            return event_type
    raise ValueError(f"{name!r} is not a router event (one of {ROUTER_EVENT_TYPES})")


def _check_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http or https URL")
    try:
        httpx.URL(value)  # what the webhook worker will send to
    except httpx.InvalidURL as exc:
        raise ValueError(f"is not a URL that can be called: {exc}") from None
    return value


class SubscriptionIn(Strict):
    url: str = Field(max_length=2000)
    events: list[str] = Field(
        default_factory=list,
        description="Router event types (lead.assigned or leadfarm.lead.assigned.v1); "
        "empty: every router event",
    )
    rep_id: str | None = Field(None, max_length=64, description="Only this rep's events")
    description: str | None = Field(None, max_length=500)
    active: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return sorted({normalise_event_type(e) for e in value})


class SubscriptionPatch(Strict):
    url: str | None = Field(None, max_length=2000)
    events: list[str] | None = None
    rep_id: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=500)
    active: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted({normalise_event_type(e) for e in value})


class SubscriptionOut(BaseModel):
    id: str
    url: str
    events: list[str]
    rep_id: str | None
    description: str | None
    active: bool
    secret_hint: str = Field(description="The first characters of the signing secret")
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="The Standard Webhooks signing secret (whsec_...). Shown once; store it."
    )


class SubscriptionDeliveryOut(BaseModel):
    id: str
    subscription_id: str
    event_id: str
    event_type: str
    lead_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    expires_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
