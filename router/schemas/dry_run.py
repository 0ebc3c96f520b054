"""The dry run: a lead (or a stored one) and where it would go."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    model_validator,
)

from contracts.events import SourceClass
from router.schemas.common import Strict


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
