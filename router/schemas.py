"""router's HTTP request and response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from contracts.events import Channel


class RepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    weight: int = Field(1, ge=1, le=100)
    active: bool = True


class RepOut(BaseModel):
    id: str
    name: str
    email: str
    weight: int
    active: bool
    created_at: datetime


class AssignmentOut(BaseModel):
    id: str
    lead_id: str
    rep_id: str | None
    status: str
    pool: str
    rule: str
    first_touch_due_at: datetime | None
    touched_at: datetime | None
    created_at: datetime


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    outcome: str = Field(
        min_length=1,
        max_length=32,
        description="e.g. no_answer, voicemail, connected, bad_number, meeting_booked",
    )


class ActivityOut(BaseModel):
    id: str
    lead_id: str
    rep_id: str
    channel: Channel
    outcome: str
    at: datetime
