"""nurture's HTTP request and response bodies; `of` makes a response from a domain record."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nurture.definitions import Action, EngagementType, TemplateDef, TrackDef, expand
from services.controlchars import refuse_control_characters

if TYPE_CHECKING:
    from nurture.engagement import EngagementScore, EngageOutcome
    from nurture.records import CallTask, EngagementSignal, StoredDefinition, Suppression
    from nurture.views import LeadInNurture, TrackStats

DetailValue = str | int | float | bool | None


class ScheduledStepOut(BaseModel):
    number: int
    day: int
    action: Action
    template: str | None = None
    task: str | None = None
    note: str | None = None


class NextStepOut(ScheduledStepOut):
    due_at: datetime | None = None


class ConsentOut(BaseModel):
    basis: str | None = Field(
        None, description="opt_in or legitimate_interest; None: no email is sent"
    )
    detail: str
    suppressed: str | None = Field(None, description="Why the address is suppressed, if it is")


class EngagementOut(BaseModel):
    id: str
    type: str
    points: float
    hand_raise: bool
    at: datetime
    message_id: str | None = None
    url: str | None = None
    timeframe_days: int | None = None
    detail: dict[str, Any] | None = None

    @classmethod
    def of(cls, e: EngagementSignal) -> EngagementOut:
        return cls(
            id=e.id,
            type=e.type,
            points=e.points,
            hand_raise=e.hand_raise,
            at=e.at,
            message_id=e.message_id,
            url=e.url,
            timeframe_days=e.timeframe_days,
            detail=e.detail,
        )


class EngagementSummary(BaseModel):
    score: float = Field(description="The decayed engagement score now")
    threshold: float = Field(description="The score that sends the lead back to the qualifier")
    recycled_at: datetime | None = None
    history: list[EngagementOut] = Field(
        default_factory=list, description="Since the last recycle, newest first"
    )

    @classmethod
    def of(cls, engagement: EngagementScore) -> EngagementSummary:
        return cls(
            score=engagement.score,
            threshold=engagement.threshold,
            recycled_at=engagement.recycled_at,
            history=[EngagementOut.of(e) for e in engagement.history],
        )


class TouchOut(BaseModel):
    kind: Literal["email", "task"]
    id: str
    step: int
    day: int
    status: str
    template: str | None = None
    title: str | None = None
    reason: str | None = None
    created_at: datetime
    sent_at: datetime | None = None


class LeadNurtureOut(BaseModel):
    lead_id: str
    id: str | None = Field(None, description="The current (latest) enrolment")
    track: str | None = None
    track_name: str | None = None
    reason: str | None = None
    trigger: str | None = None
    status: str = Field(
        description="active, completed, recycled, exited, or not_enrolled (no track matched)"
    )
    step: int = Field(0, description="Steps done on the track")
    steps_total: int | None = None
    enrolled_at: datetime | None = None
    next_touch_at: datetime | None = None
    next_step: NextStepOut | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    consent: ConsentOut
    engagement: EngagementSummary
    touches: list[TouchOut] = Field(default_factory=list, description="Newest first")

    @classmethod
    def of(cls, view: LeadInNurture) -> LeadNurtureOut:
        touches = [
            TouchOut(
                kind="email",
                id=m.id,
                step=m.step,
                day=m.day,
                status=m.status,
                template=m.template,
                reason=m.reason,
                created_at=m.created_at,
                sent_at=m.sent_at,
            )
            for m in view.emails
        ] + [
            TouchOut(
                kind="task",
                id=t.id,
                step=t.step,
                day=t.day,
                status=t.status,
                title=t.title,
                reason=t.outcome,
                created_at=t.created_at,
                sent_at=t.completed_at,
            )
            for t in view.tasks
        ]
        touches.sort(key=lambda t: (t.created_at, t.step), reverse=True)
        out = cls(
            lead_id=view.lead_id,
            status="not_enrolled",
            consent=ConsentOut(
                basis=view.consent.decision.basis,
                detail=view.consent.decision.reason,
                suppressed=view.consent.suppressed,
            ),
            engagement=EngagementSummary.of(view.engagement),
            touches=touches,
        )
        enrolment, track, s = view.enrolment, view.track, view.next_step
        if enrolment is None:
            return out
        next_step = None
        if s is not None:
            next_step = NextStepOut(
                number=s.number,
                day=s.day,
                action=s.action,
                template=s.template,
                task=s.task,
                note=s.note,
                due_at=enrolment.next_touch_at,
            )
        return out.model_copy(
            update={
                "id": enrolment.id,
                "track": enrolment.track,
                "track_name": track.name if track else None,
                "reason": enrolment.reason,
                "trigger": enrolment.trigger,
                "status": enrolment.status,
                "step": enrolment.step,
                "steps_total": len(view.steps) if track else None,
                "enrolled_at": enrolment.enrolled_at,
                "next_touch_at": enrolment.next_touch_at,
                "next_step": next_step,
                "ended_at": enrolment.ended_at,
                "end_reason": enrolment.end_reason,
            }
        )


class StepCountOut(BaseModel):
    number: int
    day: int
    action: Action
    reached: int = Field(description="Enrolments that have had this step (whatever became of them)")
    waiting: int = Field(description="Active enrolments whose next step this is")


class TrackStatsOut(BaseModel):
    track: str
    name: str | None = None
    enrolled: int
    active: int
    completed: int
    recycled: int
    exited: int
    touched: int = Field(description="Enrolments touched at least once (an email sent or a task)")
    engaged: int = Field(description="Enrolments with at least one engagement")
    emails_sent: int
    emails_skipped: int
    emails_bounced: int
    emails_failed: int
    emails_cancelled: int
    emails_pending: int
    tasks: int
    unsubscribed: int
    steps: list[StepCountOut] = Field(
        default_factory=list,
        description="Enrolment counts per step of the track's current schedule",
    )

    @classmethod
    def of(cls, stats: TrackStats) -> TrackStatsOut:
        return cls(
            track=stats.track,
            name=stats.name,
            steps=[StepCountOut(**asdict(s)) for s in stats.steps],
            **asdict(stats.counts),
        )


class TrackChangedBy(BaseModel):
    key_id: str = Field(description="The API key that made the change")
    name: str | None = Field(None, description="The key's name")


class TrackOut(TrackDef):
    origin: Literal["file", "api"]
    version: int = Field(description="0 for the file's; counts the API's changes")
    schedule: list[ScheduledStepOut]
    updated_at: datetime | None = Field(
        None, description="The API's last change (none: the file's)"
    )
    changed_by: TrackChangedBy | None = Field(
        None, description="Who made the API's last change (none: the file's, or not recorded)"
    )

    @classmethod
    def of(
        cls, track: TrackDef, origin: str, version: int, stored: StoredDefinition | None
    ) -> TrackOut:
        changed_by = (
            TrackChangedBy(key_id=stored.changed_by, name=stored.changed_by_name)
            if stored is not None and stored.changed_by
            else None
        )
        return cls.model_validate(
            {
                **track.model_dump(),
                "origin": origin,
                "version": version,
                "updated_at": stored.updated_at if stored is not None else None,
                "changed_by": changed_by,
                "schedule": [
                    ScheduledStepOut(
                        number=s.number,
                        day=s.day,
                        action=s.action,
                        template=s.template,
                        task=s.task,
                        note=s.note,
                    )
                    for s in expand(track)
                ],
            }
        )


class TemplateOut(TemplateDef):
    id: str
    origin: Literal["file", "api"]


class EngagementIn(BaseModel):
    """An engagement: from the email service provider (opened, clicked, replied), the
    website (visited a key page, filled a form), a webinar platform, or a person."""

    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    lead_id: str | None = Field(None, max_length=64)
    message_id: str | None = Field(
        None, max_length=64, description="The email's X-Leadfarm-Message-Id (names the lead)"
    )
    type: EngagementType
    at: datetime | None = Field(None, description="When it happened; now when left out")
    hand_raise: bool = Field(
        False, description="An explicit hand raise (asked to be contacted), whatever the type"
    )
    timeframe_days: int | None = Field(
        None, ge=0, le=3650, description="When they now say they expect to buy, in days"
    )
    url: str | None = Field(None, max_length=2000)
    detail: dict[str, DetailValue] | None = Field(None, max_length=50)
    external_id: str | None = Field(
        None, max_length=200, description="The reporter's id: the same id again is a duplicate"
    )

    @model_validator(mode="after")
    def _names_a_lead(self) -> EngagementIn:
        if not self.lead_id and not self.message_id:
            raise ValueError("give lead_id or message_id")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at needs a time zone")
        return self


class EngagementResult(BaseModel):
    id: str
    lead_id: str
    duplicate: bool = False
    score: float
    threshold: float
    recycled: bool
    detail: str

    @classmethod
    def of(cls, outcome: EngageOutcome) -> EngagementResult:
        return cls(
            id=outcome.engagement_id,
            lead_id=outcome.lead_id,
            duplicate=outcome.duplicate,
            score=outcome.score,
            threshold=outcome.threshold,
            recycled=outcome.recycled,
            detail=outcome.detail,
        )


class BounceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    message_id: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=320)
    kind: Literal["hard", "soft", "complaint"]
    detail: str | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _names_an_address(self) -> BounceIn:
        if not self.message_id and not self.email:
            raise ValueError("give message_id or email")
        return self


class BounceResult(BaseModel):
    suppressed: bool = Field(description="The address is on the suppression list now")
    cancelled: int = Field(description="Queued emails to the address that were cancelled")


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    email: str = Field(min_length=3, max_length=320)
    basis: Literal["opt_in", "withdrawn"]
    evidence: str = Field(
        min_length=3, max_length=1000, description="Where and how it was given or withdrawn"
    )


class ConsentResult(BaseModel):
    email_hash: str
    basis: str
    suppressed: str | None = None


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    detail: str | None = Field(None, max_length=1000)


class SuppressionOut(BaseModel):
    email_hash: str
    reason: str
    detail: str | None = None
    track: str | None = None
    created_at: datetime

    @classmethod
    def of(cls, s: Suppression) -> SuppressionOut:
        return cls(**asdict(s))


class OneClickUnsubscribeIn(BaseModel):
    """The body of a one-click unsubscribe (RFC 8058), sent by mail clients and by the
    unsubscribe page's button. Not read: the signed token in the URL is the request."""

    list_unsubscribe: Literal["One-Click"] = Field("One-Click", alias="List-Unsubscribe")


class NurtureErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    lead_id: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=320)

    @model_validator(mode="after")
    def _names_a_person(self) -> NurtureErasureIn:
        if not self.lead_id and not self.email:
            raise ValueError("give lead_id or email")
        return self


class NurtureErasureOut(BaseModel):
    lead_ids: list[str]
    erased: dict[str, int]
    suppressed: bool = Field(description="The address stays suppressed, as a hash only")


class TaskOut(BaseModel):
    id: str
    lead_id: str
    enrolment_id: str
    track: str
    step: int
    day: int
    title: str
    note: str | None = None
    status: str
    created_at: datetime
    completed_at: datetime | None = None
    outcome: str | None = None

    @classmethod
    def of(cls, t: CallTask) -> TaskOut:
        return cls(
            id=t.id,
            lead_id=t.lead_id,
            enrolment_id=t.enrolment_id,
            track=t.track,
            step=t.step,
            day=t.day,
            title=t.title,
            note=t.note,
            status=t.status,
            created_at=t.created_at,
            completed_at=t.completed_at,
            outcome=t.outcome,
        )


class TaskCompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    outcome: str = Field(min_length=1, max_length=1000, description="What happened, in words")
    engagement: EngagementType | None = Field(
        None, description="What the lead did, recorded as an engagement (e.g. replied)"
    )
    hand_raise: bool = Field(False, description="They asked to be contacted by sales")
    timeframe_days: int | None = Field(None, ge=0, le=3650)


class TaskCompleted(BaseModel):
    task: TaskOut
    engagement: EngagementResult | None = None
