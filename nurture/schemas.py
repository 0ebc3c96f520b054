"""nurture's HTTP request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nurture.definitions import Action, EngagementType, TemplateDef, TrackDef
from services.controlchars import refuse_control_characters

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


class EngagementSummary(BaseModel):
    score: float = Field(description="The decayed engagement score now")
    threshold: float = Field(description="The score that sends the lead back to the qualifier")
    recycled_at: datetime | None = None
    history: list[EngagementOut] = Field(
        default_factory=list, description="Since the last recycle, newest first"
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
