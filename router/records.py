"""The router's domain records: what its repository returns and its domain works with (the
HTTP bodies are schemas.py's, made of these by the API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from contracts.events import LeadProfile

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
