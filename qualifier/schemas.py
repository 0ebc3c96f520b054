"""qualifier's HTTP request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from contracts.events import CriterionResult, IntentDecay, LeadProfile, Lifecycle, Stage, Term
from services.controlchars import refuse_control_characters

Outcome = Literal["qualified", "deferred", "disqualified"]


class EvaluateIn(LeadProfile):
    """A lead to evaluate without storing it: the fields of a LeadProfile (as ingest
    normalises them: lower-case email, E.164 phone, ISO country, `flags` such as
    `free_mail`), plus optional nurture engagement. Unknown fields are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=2000)

    source: str = Field("evaluate", min_length=1, max_length=100)
    timeframe_days: int | None = Field(
        None, ge=0, le=3650, description="When the prospect expects to buy, in days"
    )
    employees: int | None = Field(None, ge=0)
    engagement_score: float | None = Field(
        None, ge=0, description="An engagement score from nurture, as lead.recycled carries"
    )
    engagements: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=200,
        description="Engagements from nurture; a hand-raise type counts as asked to be contacted",
    )
    intent_at: AwareDatetime | None = Field(
        None,
        description="When the lead last showed intent (a form, a hand raise), to see the "
        "decay the definitions' half-life would apply now; absent: now, no decay",
    )

    def profile(self) -> LeadProfile:
        return LeadProfile.model_validate(
            self.model_dump(exclude={"engagement_score", "engagements", "intent_at"})
        )


class EvaluationOut(BaseModel):
    """A decision: the outcome, the stage and score, and every criterion behind them."""

    outcome: Outcome
    reason: str = Field(description="Why, in one line (the lead.disqualified reason)")
    disqualifiers: list[str] = Field(default_factory=list)
    lifecycle: Lifecycle
    stage: Stage
    term: Term
    score: int
    rule_score: int | None = None
    win_probability: float | None = None
    definition_version: str
    model_version: str | None = None
    reasons: list[str] = Field(default_factory=list)
    criteria: list[CriterionResult] = Field(default_factory=list)
    intent_decay: IntentDecay | None = Field(
        None,
        description="Set when the definitions give intent a half-life: the half-life, the "
        "days since the last intent signal, the intent points before and after the decay, "
        "and the score before it (`score` is the decayed score)",
    )


class DecisionOut(EvaluationOut):
    """The qualifier's latest decision on a stored lead."""

    lead_id: str
    trigger: str | None = Field(
        None, description="What caused it: captured, merged, recycled or reevaluated"
    )
    decided_at: datetime


class DefinitionsVersionOut(BaseModel):
    seq: int | None = Field(None, description="Order of the change; null for a file not yet used")
    version: str
    description: str
    origin: str = Field(description="api, or file:<name> for a definitions file loaded at start")
    changed_by: str = Field(description="The API key id that made the change, or the file")
    changed_at: datetime | None
    active: bool


class DefinitionsOut(DefinitionsVersionOut):
    yaml: str


class DefinitionsJsonIn(BaseModel):
    """The JSON form of PUT /qualifier/v1/definitions."""

    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("*")(refuse_control_characters)

    yaml: str = Field(min_length=1, description="The definitions as YAML text")


class ChangeOut(BaseModel):
    lead_id: str
    before: Outcome
    after: Outcome


class ReevaluationOut(BaseModel):
    definition_version: str
    model_version: str | None
    evaluated: int = Field(description="Stored leads decided again")
    changed: int = Field(description="Leads whose outcome changed; each got a new event")
    outcomes: dict[str, int] = Field(description="The new outcomes of the evaluated leads")
    changes: list[ChangeOut] = Field(description="The changed leads (at most the first 1,000)")


class DefinitionsChangedOut(DefinitionsOut):
    changed: bool = Field(description="False when the same text was already active")
    reevaluation: ReevaluationOut | None = None


class LiftOut(BaseModel):
    attribute: str
    value: str
    wins: int
    losses: int
    outcomes: int = Field(description="Closed opportunities behind this value")
    win_rate: float = Field(description="Laplace-smoothed win rate of leads with this value")
    lift: float = Field(description="win_rate over the overall win rate; above 1 wins more")


class ModelOut(BaseModel):
    version: str | None = Field(description="nb-<outcomes> once active, else null")
    active: bool
    outcomes: int
    wins: int
    losses: int
    min_outcomes: int
    weight: float = Field(description="Share of the score taken by the learned likelihood")
    attributes: list[LiftOut] = Field(description="Attribute values with the most lift first")
