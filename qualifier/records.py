"""The qualifier's domain records: what its repository returns (a lead's stored profile, its
state before a run is decided, its latest decision; a stored version of the definitions; a
closed opportunity's outcome). The API turns them into its response bodies (`schemas`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.events import LeadProfile
from qualifier.rules import NurtureEngagement, Outcome, Verdict


@dataclass(frozen=True)
class StoredLead:
    lead_id: str
    profile: LeadProfile
    engagement: NurtureEngagement | None
    intent_at: datetime | None = None


@dataclass(frozen=True)
class Previous:
    outcome: Outcome
    definition_version: str


@dataclass(frozen=True)
class LeadState:
    """What deciding a lead needs of its past: its last decision, stored engagement and
    the time of its last intent signal."""

    previous: Previous | None
    engagement: NurtureEngagement | None
    intent_at: datetime | None = None


@dataclass(frozen=True)
class StoredDecision:
    """A lead's latest decision as stored: the verdict, its one-line reason, what caused it
    and when."""

    lead_id: str
    verdict: Verdict
    reason: str
    trigger: str | None
    decided_at: datetime


@dataclass(frozen=True)
class StoredDefinitions:
    seq: int
    version: str
    description: str
    yaml: str
    origin: str
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True)
class StoredOutcome:
    opportunity_id: str
    won: bool
    features: dict[str, list[str]]
