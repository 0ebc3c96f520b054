"""The router's domain records: what its repository returns and its domain works with (the
HTTP bodies are schemas/'s, made of these by the routes with `of`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import TypeAdapter

from contracts.events import Channel, LeadProfile
from router.distribution import FallbackStrategy, OutsideHours, SourcedLeads, Strategy
from router.rules import Conditions
from services.holidays import Holidays

LeadStatus = Literal[
    "held", "queued", "assigned", "accepted", "opportunity", "won", "lost", "returned"
]
"""Where a lead is with the router."""
FirstTouch = Literal["pending", "met", "breached", "void"]
"""An assignment's first-touch obligation: open, met, missed, or not the rep's to answer."""
Cadence = Literal["running", "connected", "exhausted", "breached", "void"]
"""An assignment's cadence: running, worked (connected), every attempt made without a
connection, closed with attempts missing, or not the rep's to answer."""
RejectOutcome = Literal["reassigned", "returned"]
OpportunityStatus = Literal["open", "won", "lost"]
DeliveryStatus = Literal["pending", "delivered", "dead"]
ActivityOutcome = Literal[
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
"""What came of a call, email or meeting a rep logged."""


@dataclass(frozen=True)
class LeadRecord:
    lead_id: str
    profile: LeadProfile
    score: int | None
    status: LeadStatus
    rep_id: str | None
    assignment_id: str | None
    pool: str | None
    rule: str | None
    strategy: str | None
    queue: str | None
    held_until: datetime | None
    explanation: dict[str, Any] | None
    reassignments: int
    return_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AssignmentRecord:
    id: str
    lead_id: str
    rep_id: str
    kind: str
    pool: str
    rule: str
    strategy: str
    explanation: dict[str, Any]
    assigned_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    first_touch_due_at: datetime
    touched_at: datetime | None
    first_touch: FirstTouch
    first_touch_resolved_at: datetime | None
    cadence_due_at: datetime
    cadence: Cadence
    cadence_resolved_at: datetime | None
    calls_required: int
    emails_required: int
    min_spacing_minutes: float
    calls_made: int
    emails_made: int
    calls_counted: int
    emails_counted: int
    last_call_at: datetime | None
    last_email_at: datetime | None
    connected_at: datetime | None


@dataclass(frozen=True)
class PoolRepState:
    current: int
    assigned: int
    last_assigned_at: datetime | None


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    event_types: list[str]
    rep_id: str | None
    description: str | None
    secret: str
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DueDelivery:
    id: str
    subscription_id: str
    url: str
    secret: str
    event_id: str
    payload: str
    attempts: int
    expires_at: datetime
    traceparent: str | None = None


ConfigKind = Literal["rule", "pool"]


ConfigAction = Literal["created", "changed", "deleted"]


@dataclass(frozen=True)
class Changer:
    """Who makes a change: the API key's id and name."""

    key_id: str
    name: str | None = None


@dataclass(frozen=True)
class Absence:
    """A rep's time out of office."""

    start: datetime
    end: datetime
    reason: str | None = None


@dataclass(frozen=True)
class RepRecord:
    """A rep: their profile, capacity, calendar, suspension and who changed them last."""

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
    out_of_office: list[Absence]
    team_id: str | None
    crm_owner_ids: dict[str, str] = field(default_factory=dict)
    """The rep's id in each CRM, by connector kind."""
    suspended_at: datetime | None = None
    suspended_reason: str | None = None
    reinstated_at: datetime | None = None
    updated_at: datetime | None = None
    changed_by: Changer | None = None
    """Who made the last change through the API (None: not recorded yet)."""
    suspended_by: Changer | None = None
    """Who suspended the rep by hand (None while suspended: the router, for compliance)."""

    @property
    def suspended(self) -> bool:
        return self.suspended_at is not None


@dataclass(frozen=True)
class TeamHoliday:
    """A team's own day off (a local date)."""

    date: date
    name: str | None = None


@dataclass(frozen=True)
class TeamRecord:
    """A team and its days off: the public holidays of `country` (and `subdivision`) less
    `worked_holidays`, plus its own `holidays`."""

    id: str
    name: str
    holidays: list[TeamHoliday]
    created_at: datetime
    updated_at: datetime
    country: str | None = None
    subdivision: str | None = None
    worked_holidays: list[date] = field(default_factory=list)

    def days_off(self) -> Holidays:
        return Holidays.of(
            {h.date: h.name for h in self.holidays},
            country=self.country,
            subdivision=self.subdivision,
            removed=self.worked_holidays,
        )


AccountSource = Literal["manual", "connector"]
"""How an account got its owner: by hand (the API, the console), or synced from a CRM."""


@dataclass(frozen=True)
class AccountRecord:
    """The rep who owns a company's domain (`account_owner_first` pools route to them), set
    by hand or by a connector's account sync (`connector_id`, the CRM's `external_id`)."""

    domain: str
    rep_id: str
    created_at: datetime
    updated_at: datetime
    source: AccountSource = "manual"
    connector_id: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class SlaTerms:
    """A pool's own SLA terms; None takes the router's setting (sla.py `sla_of`)."""

    first_touch_minutes: float | None = None
    calls: int | None = None
    emails: int | None = None
    business_days: int | None = None
    min_spacing_minutes: float | None = None
    reassign_on_missed_first_touch: bool | None = None
    max_reassignments: int | None = None


@dataclass(frozen=True)
class PoolRecord:
    """A pool: its members (reps, teams; none: every rep), how it distributes, its SLA."""

    id: str
    name: str
    strategy: Strategy
    members: list[str]
    teams: list[str]
    outside_hours: OutsideHours
    match_territory: bool
    match_language: bool
    owner_fallback: FallbackStrategy
    sla: SlaTerms
    sourced_leads: SourcedLeads = "sourcing_rep"
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class RuleRecord:
    """A routing rule: tried by position (then id); the first whose conditions hold chooses
    the pool."""

    id: str
    name: str
    position: int
    conditions: Conditions
    pool: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


R = TypeVar("R")


def parsed(record: type[R], values: Mapping[str, Any]) -> R:
    """The record of stored (or given) values, parsed as pydantic parses them: JSON
    columns into nested records, ISO dates into dates, ints into floats; other keys ignored."""
    adapter = _ADAPTERS.get(record)
    if adapter is None:
        adapter = _ADAPTERS[record] = TypeAdapter(record)
    found: R = adapter.validate_python(dict(values))
    return found


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


@dataclass(frozen=True)
class ConfigVersion:
    version: int
    kind: ConfigKind
    object_id: str
    action: ConfigAction
    state: dict[str, Any] | None
    """The rule's or pool's whole definition after the change; None when deleted."""
    restored_from: int | None
    changed_by: Changer
    changed_at: datetime


OPEN_STATUSES = ("assigned", "accepted")


WORKING_STATUSES = ("assigned", "accepted", "opportunity")


@dataclass(frozen=True)
class ComplianceCounts:
    first_touch_due: int
    first_touch_met: int
    cadences_ended: int
    cadences_completed: int


@dataclass(frozen=True)
class Share:
    """Obligations due and met, and the share met (None when none were due)."""

    due: int
    met: int
    share: float | None


@dataclass(frozen=True)
class ComplianceReport:
    """A rep's SLA compliance over the rolling window (from `since`: the window's start, or
    the reinstatement when it is later), as the next judgement will see it."""

    rep_id: str
    window_days: int
    since: datetime
    until: datetime
    first_touch: Share
    cadence: Share
    obligations: int
    compliance: float | None
    threshold: float
    min_obligations: int
    suspended: bool
    suspended_at: datetime | None
    suspended_reason: str | None
    reinstated_at: datetime | None


@dataclass(frozen=True)
class HistoryEntry:
    """One of a lead's assignments, as its history shows it."""

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


@dataclass(frozen=True)
class LeadView:
    """A lead as the API shows it: the lead, its current assignment and its history."""

    lead: LeadRecord
    assignment: AssignmentRecord | None
    history: list[HistoryEntry]


@dataclass(frozen=True)
class Activity:
    """A call, email, meeting or note a rep logged on a lead."""

    id: str
    lead_id: str
    rep_id: str
    channel: str
    outcome: str
    at: datetime
    assignment_id: str | None = None
    counted: bool | None = None
    connected: bool | None = None
    note: str | None = None


@dataclass(frozen=True)
class NewActivity:
    """A call, email, meeting or note a rep logs on a lead."""

    channel: Channel
    outcome: ActivityOutcome
    note: str | None = None


@dataclass(frozen=True)
class Rejection:
    """A rep rejects a lead: `reassign` to the next eligible rep (returned when there is
    none), or `return` it straight to marketing."""

    reason: str
    disposition: Literal["reassign", "return"] = "reassign"


@dataclass(frozen=True)
class NewOpportunity:
    amount: Decimal
    currency: str = "USD"
    name: str | None = None


@dataclass(frozen=True)
class Closing:
    """An opportunity closed won or lost (`amount`: the final one, else the opened one)."""

    won: bool
    amount: Decimal | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Opportunity:
    id: str
    lead_id: str
    rep_id: str
    name: str | None
    amount: Decimal
    currency: str
    status: OpportunityStatus
    reason: str | None
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class WebhookDelivery:
    """A webhook delivery of an event to a subscription, as the API lists it."""

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
