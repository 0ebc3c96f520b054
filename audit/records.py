"""audit's domain records: what its repository returns (a lead's row of the read model, a
lead found by its email or company, forecast entries and removal requests, Prospect
Satisfaction audits, erasures and their confirmations, role grants, marketing spend). The
API turns them into its response bodies (`schemas`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class LeadRow:
    lead_id: str
    source: str | None
    source_class: str | None
    campaign: str | None
    is_test: bool
    timeframe_days: int | None
    first_seen_at: datetime
    captured_at: datetime | None
    stage_rank: int
    term: str | None
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


@dataclass(frozen=True)
class LeadMatch:
    lead_id: str
    email: str | None
    company: str | None
    source: str | None
    stage_rank: int
    rep_id: str | None
    rep_name: str | None
    captured_at: datetime | None


@dataclass(frozen=True)
class EntryRow:
    id: str
    lead_id: str
    status: str
    amount_cents: int
    currency: str
    period: str
    expected_close_at: datetime
    entered_at: datetime
    source: str | None
    source_class: str | None
    rep_id: str | None
    removed_at: datetime | None
    removal_request_id: str | None


@dataclass(frozen=True)
class RequestRow:
    id: str
    lead_id: str
    entry_id: str
    status: str
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


@dataclass(frozen=True)
class SatisfactionAuditRow:
    id: str
    lead_id: str
    reason: str
    status: str
    opened_at: datetime
    due_at: datetime
    rep_id: str | None
    source: str | None
    source_class: str | None
    contacted: bool | None
    contact_count: int | None
    contacted_by: str | None
    contacted_within: str | None
    satisfaction: int | None
    outcome: str | None
    comment: str | None
    logged_contact: bool | None
    recorded_at: datetime | None
    recorded_by: str | None


@dataclass(frozen=True)
class ErasureRow:
    lead_id: str
    requested_by: str
    requested_at: datetime
    events_redacted: int
    id: str | None


@dataclass(frozen=True)
class ConfirmationRow:
    service: str
    erasure_id: str
    records: int
    confirmed_at: datetime


@dataclass(frozen=True)
class RoleRow:
    key_id: str
    role: str
    granted_by: str
    granted_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class SpendRow:
    source: str
    period: str
    amount_cents: int
    currency: str
    note: str | None
    updated_by: str
    updated_at: datetime
