"""nurture's domain records: what its repository returns and its services take."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from contracts.events import LeadProfile
from nurture.definitions import EngagementType, Trigger

EnrolmentStatus = Literal["active", "completed", "recycled", "exited"]
"""active; completed (the track ran out); recycled (warmed up: back to the qualifier);
exited (qualified or disqualified elsewhere)."""
EmailStatus = Literal["queued", "sending", "sent", "skipped", "cancelled", "bounced", "failed"]
CallTaskStatus = Literal["open", "done", "cancelled"]
BounceKind = Literal["hard", "soft", "complaint"]
SuppressionReason = Literal["manual", "unsubscribed", "complaint", "hard_bounce", "erased"]
Basis = Literal["opt_in", "legitimate_interest"]
"""A consent basis that lets an email go."""
ExplicitBasis = Literal["opt_in", "withdrawn"]
"""Consent recorded through the API: given, or withdrawn."""


@dataclass(frozen=True)
class NurturedLead:
    """The lead as nurture last heard of it (to render emails and to hand back)."""

    lead_id: str
    email_hash: str | None
    profile: LeadProfile
    recycled_at: datetime | None


@dataclass(frozen=True)
class Enrolment:
    """One time a lead was put on a track: its step, next touch and how it ended."""

    id: str
    lead_id: str
    track: str
    reason: str
    status: EnrolmentStatus
    step: int
    enrolled_at: datetime
    next_touch_at: datetime | None
    trigger: Trigger | None
    timezone: str | None
    last_touch_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None


@dataclass(frozen=True)
class Suppression:
    """An address (as a hash) that gets no email, and why."""

    email_hash: str
    reason: SuppressionReason
    detail: str | None
    track: str | None
    created_at: datetime


@dataclass(frozen=True)
class Email:
    """An email step: written when the step ran (or skipped, with why), then sent or not."""

    id: str
    enrolment_id: str
    lead_id: str
    track: str
    step: int
    day: int
    template: str | None
    email_hash: str | None
    to_address: str | None
    subject: str | None
    text_body: str | None
    html_body: str | None
    unsubscribe_url: str | None
    consent_basis: Basis | None
    status: EmailStatus
    reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    lease_until: datetime | None
    last_error: str | None
    provider_id: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class CallTask:
    """A call task for inside sales (a track's task step)."""

    id: str
    enrolment_id: str
    lead_id: str
    track: str
    step: int
    day: int
    title: str
    note: str | None
    status: CallTaskStatus
    created_at: datetime
    completed_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class EngagementSignal:
    """Something the lead did that shows interest (opened, clicked, replied, raised a
    hand...), with the points it scored."""

    id: str
    lead_id: str
    enrolment_id: str | None
    type: EngagementType
    points: float
    hand_raise: bool
    at: datetime
    recorded_at: datetime
    message_id: str | None
    url: str | None
    timeframe_days: int | None
    detail: dict[str, Any] | None
    external_id: str | None


@dataclass(frozen=True)
class StoredDefinition:
    """A track or template put through the manager API."""

    id: str
    definition: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    changed_by: str | None = None
    """The API key that made the last change (none: before it was recorded)."""
    changed_by_name: str | None = None


@dataclass(frozen=True)
class Erased:
    """What an erasure deleted."""

    enrolment_ids: list[str]
    message_ids: list[str]
    counts: dict[str, int]


@dataclass(frozen=True)
class TrackCounts:
    """A track's enrolments by status, and what became of its emails."""

    enrolled: int
    active: int
    completed: int
    recycled: int
    exited: int
    touched: int
    """Enrolments touched at least once (an email sent or a task)."""
    emails_sent: int
    emails_skipped: int
    emails_bounced: int
    emails_failed: int
    emails_cancelled: int
    emails_pending: int
    tasks: int
    engaged: int
    """Enrolments with at least one engagement."""
    unsubscribed: int
