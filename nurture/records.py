"""nurture's domain records: what its repository returns and its services take."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.events import LeadProfile


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
    status: str
    step: int
    enrolled_at: datetime
    next_touch_at: datetime | None
    trigger: str | None
    timezone: str | None
    last_touch_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None


@dataclass(frozen=True)
class Suppression:
    """An address (as a hash) that gets no email, and why."""

    email_hash: str
    reason: str
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
    consent_basis: str | None
    status: str
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
    status: str
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
    type: str
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
