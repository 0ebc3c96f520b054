"""Pools, their SLA, rules, and the versions of rules and pools (history, as of, rollback)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
)

from router.distribution import FallbackStrategy, OutsideHours, SourcedLeads, Strategy
from router.records import ConfigVersion, PoolRecord, RuleRecord
from router.rules import Conditions
from router.schemas.common import Strict
from router.schemas.reps import ChangedBy
from router.sla import Sla


class SlaIn(Strict):
    """A pool's contact-cadence SLA; unset values take the router's settings."""

    first_touch_minutes: float | None = Field(None, gt=0, description="Business minutes")
    calls: int | None = Field(None, ge=0, description="Calls required in the cadence")
    emails: int | None = Field(None, ge=0, description="Emails required in the cadence")
    business_days: int | None = Field(None, ge=1, description="The cadence's window")
    min_spacing_minutes: float | None = Field(
        None, ge=0, description="Business minutes between two counted calls (or emails)"
    )
    reassign_on_missed_first_touch: bool | None = None
    max_reassignments: int | None = Field(None, ge=0)


class PoolIn(Strict):
    name: str | None = Field(None, max_length=200)
    strategy: Strategy = "round_robin"
    members: list[str] = Field(
        default_factory=list, description="Rep ids; with `teams` empty too, every rep"
    )
    teams: list[str] = Field(default_factory=list, description="Every rep of these teams")
    outside_hours: OutsideHours = Field(
        "assign",
        description="assign: hours do not gate (the SLA clock starts with the rep's day); "
        "hold: only reps in hours, else hold until the next rep's hours; skip: only reps in "
        "hours, else the fallback queue",
    )
    match_territory: bool = False
    match_language: bool = False
    owner_fallback: FallbackStrategy = "round_robin"
    sourced_leads: SourcedLeads = Field(
        "sourcing_rep",
        description="sourcing_rep: a lead a rep submitted (rep prospecting, a referral at the "
        "close) stays with that rep; pool: it is distributed like any other lead",
    )
    sla: SlaIn = Field(default_factory=SlaIn)


class PoolOut(BaseModel):
    id: str
    name: str
    strategy: Strategy
    members: list[str]
    teams: list[str]
    outside_hours: OutsideHours
    match_territory: bool
    match_language: bool
    owner_fallback: FallbackStrategy
    sourced_leads: SourcedLeads = "sourcing_rep"
    sla: SlaIn
    effective_sla: Sla | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int | None = Field(None, description="The version of its last change")
    changed_by: ChangedBy | None = Field(None, description="Who made its last change")

    @classmethod
    def of(cls, pool: PoolRecord, effective_sla: Sla, last: ConfigVersion | None) -> PoolOut:
        """The pool with the SLA in force and its last change (`last`, when versioned)."""
        return cls.model_validate(pool, from_attributes=True).model_copy(
            update={"effective_sla": effective_sla, **_last_change(last)}
        )


def _last_change(version: ConfigVersion | None) -> dict[str, Any]:
    if version is None:
        return {}
    return {"version": version.version, "changed_by": ChangedBy.of(version.changed_by)}


class RuleIn(Strict):
    name: str | None = Field(None, max_length=200)
    position: int = Field(100, ge=0, le=1_000_000, description="Rules are tried lowest first")
    conditions: Conditions = Field(default_factory=Conditions)
    pool: str = Field(min_length=1, max_length=100)
    enabled: bool = True


class RuleOut(BaseModel):
    id: str
    name: str
    position: int
    conditions: Conditions
    pool: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    version: int | None = Field(None, description="The version of its last change")
    changed_by: ChangedBy | None = Field(None, description="Who made its last change")

    @classmethod
    def of(cls, rule: RuleRecord, last: ConfigVersion | None) -> RuleOut:
        """The rule with its last change (`last`, when versioned)."""
        return cls.model_validate(rule, from_attributes=True).model_copy(update=_last_change(last))


ConfigAction = Literal["created", "changed", "deleted"]


class RuleVersionOut(BaseModel):
    version: int = Field(description="Rules and pools share one sequence of versions")
    rule_id: str
    action: ConfigAction
    rule: RuleIn | None = Field(description="The rule after the change; null when deleted")
    restored_from: int | None = Field(
        None, description="A rollback's change: the version it restored"
    )
    changed_by: ChangedBy
    changed_at: datetime


class PoolVersionOut(BaseModel):
    version: int = Field(description="Rules and pools share one sequence of versions")
    pool_id: str
    action: ConfigAction
    pool: PoolIn | None = Field(description="The pool after the change; null when deleted")
    restored_from: int | None = Field(
        None, description="A rollback's change: the version it restored"
    )
    changed_by: ChangedBy
    changed_at: datetime


class RuleAsOf(RuleIn):
    id: str


class PoolAsOf(PoolIn):
    id: str


class RulesAsOfOut(BaseModel):
    version: int
    rules: list[RuleAsOf] = Field(description="Every rule as it was then, in the order tried")


class PoolsAsOfOut(BaseModel):
    version: int
    pools: list[PoolAsOf]


class RulesRollbackIn(Strict):
    version: int = Field(ge=1, description="Restore the rules as they were right after it")
    rule: str | None = Field(
        None, min_length=1, max_length=100, description="Only this rule; without it, every rule"
    )


class PoolsRollbackIn(Strict):
    version: int = Field(ge=1, description="Restore the pools as they were right after it")
    pool: str | None = Field(
        None, min_length=1, max_length=100, description="Only this pool; without it, every pool"
    )


class RulesRollbackOut(BaseModel):
    restored: int
    changes: list[RuleVersionOut] = Field(
        description="The new versions the rollback made (none when nothing differed)"
    )
    rules: list[RuleOut] = Field(description="Every rule now, in the order tried")


class PoolsRollbackOut(BaseModel):
    restored: int
    changes: list[PoolVersionOut]
    pools: list[PoolOut]
