"""A lead's assignment, cadence and history; activities, rejection, assignment by hand,
opportunities; a rep's leads and compliance."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
)

from contracts.events import Channel, LeadProfile
from router.records import (
    Activity,
    ActivityOutcome,
    AssignmentRecord,
    Cadence,
    ComplianceReport,
    FirstTouch,
    HistoryEntry,
    LeadRecord,
    LeadStatus,
    LeadView,
    Opportunity,
    OpportunityStatus,
    RejectOutcome,
)
from router.schemas.common import Strict


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

    @classmethod
    def of(cls, a: AssignmentRecord) -> CadenceOut:
        return cls(
            status=a.cadence,
            due_at=a.cadence_due_at,
            calls=Attempts(required=a.calls_required, counted=a.calls_counted, made=a.calls_made),
            emails=Attempts(
                required=a.emails_required, counted=a.emails_counted, made=a.emails_made
            ),
            min_spacing_minutes=a.min_spacing_minutes,
            connected_at=a.connected_at,
            resolved_at=a.cadence_resolved_at,
        )


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

    @classmethod
    def of(cls, record: HistoryEntry) -> HistoryOut:
        return cls.model_validate(record, from_attributes=True)


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

    @classmethod
    def of(cls, view: LeadView) -> AssignmentOut:
        lead, a = view.lead, view.assignment
        return cls(
            lead_id=lead.lead_id,
            status=lead.status,
            rep_id=lead.rep_id,
            assignment_id=lead.assignment_id,
            pool=lead.pool,
            rule=lead.rule,
            strategy=lead.strategy,
            queue=lead.queue,
            held_until=lead.held_until,
            assigned_at=a.assigned_at if a else None,
            accepted_at=a.accepted_at if a else None,
            first_touch_due_at=a.first_touch_due_at if a else None,
            touched_at=a.touched_at if a else None,
            first_touch=a.first_touch if a else None,
            cadence=CadenceOut.of(a) if a else None,
            return_reason=lead.return_reason,
            explanation=lead.explanation,
            history=[HistoryOut.of(h) for h in view.history],
            score=lead.score,
            lead=lead.profile,
            created_at=lead.created_at,
            updated_at=lead.updated_at,
        )


class ActivityIn(Strict):
    channel: Channel
    outcome: ActivityOutcome = Field(
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

    @classmethod
    def of(cls, record: Activity) -> ActivityOut:
        return cls.model_validate(record, from_attributes=True)


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
    status: OpportunityStatus
    reason: str | None
    opened_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, record: Opportunity) -> OpportunityOut:
        return cls.model_validate(record, from_attributes=True)


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

    @classmethod
    def of(cls, lead: LeadRecord, a: AssignmentRecord | None) -> RepLeadOut:
        """The lead in a rep's queue, with its current assignment's deadlines."""
        return cls(
            lead_id=lead.lead_id,
            status=lead.status,
            assignment_id=lead.assignment_id,
            assigned_at=a.assigned_at if a else None,
            first_touch_due_at=a.first_touch_due_at if a else None,
            touched_at=a.touched_at if a else None,
            first_touch=a.first_touch if a else None,
            cadence_due_at=a.cadence_due_at if a else None,
            cadence=a.cadence if a else None,
            score=lead.score,
            lead=lead.profile,
        )


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

    @classmethod
    def of(cls, report: ComplianceReport) -> ComplianceOut:
        return cls.model_validate(report, from_attributes=True)
