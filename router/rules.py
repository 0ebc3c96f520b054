"""Routing rules: conditions on a lead's attributes that choose a pool.

Rules are tried in order (position, then id); the first whose conditions hold chooses the
pool. A rule's conditions come in two forms, both accepted and stored as sent:

- named conditions (`countries`, `employees_min`, ...; the first form, kept so that every
  rule written before groups existed works as it did): every one set must hold;
- a group (`all` or `any`) of tests on any lead field, nested as deep as needed
  (router/conditions.py).

A condition on an attribute the lead does not have fails (a lead with no country does not
match `countries: [DE]`). Comparisons ignore case. `choose` is the decision as a pure
function of the rules, the lead and its score, for the router and for backtests alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.events import LeadProfile, SourceClass
from router.conditions import Condition, Outcome, check_size, evaluate_group
from services.controlchars import refuse_control_characters


def _lower(values: list[str] | None) -> list[str] | None:
    return None if values is None else [v.strip().lower() for v in values if v.strip()]


NAMED = (
    "countries",
    "regions",
    "industries",
    "employees_min",
    "employees_max",
    "source_classes",
    "product_interest",
    "score_min",
    "score_max",
    "languages",
)


class Conditions(BaseModel):
    """Either named conditions (every one set must hold; unset ones are ignored; lists
    mean "any of") or one group: `all` or `any` of conditions on any lead field."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    _no_control_characters = field_validator("*")(refuse_control_characters)

    countries: list[str] | None = Field(None, description="ISO 3166-1 alpha-2 codes")
    regions: list[str] | None = Field(None, description="Region or state, as ingest stores it")
    industries: list[str] | None = None
    employees_min: int | None = Field(None, ge=0)
    employees_max: int | None = Field(None, ge=0)
    source_classes: list[SourceClass] | None = None
    product_interest: list[str] | None = Field(
        None, description="Matches when the lead is interested in any of these"
    )
    score_min: int | None = Field(None, ge=0, le=100)
    score_max: int | None = Field(None, ge=0, le=100)
    languages: list[str] | None = Field(None, description="Language codes, e.g. de, en")
    all: list[Condition] | None = Field(
        None, min_length=1, description="A group: every one of these conditions holds"
    )
    any: list[Condition] | None = Field(
        None, min_length=1, description="A group: at least one of these conditions holds"
    )

    @field_validator("countries")
    @classmethod
    def _countries(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        out = [v.strip().upper() for v in values]
        for v in out:
            if len(v) != 2 or not v.isalpha():
                raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 code")
        return out

    @field_validator("regions", "industries", "product_interest", "languages")
    @classmethod
    def _casefold(cls, values: list[str] | None) -> list[str] | None:
        return _lower(values)

    @model_validator(mode="after")
    def _ranges(self) -> Conditions:
        if (
            self.employees_min is not None
            and self.employees_max is not None
            and self.employees_min > self.employees_max
        ):
            raise ValueError("employees_min is above employees_max")
        if (
            self.score_min is not None
            and self.score_max is not None
            and self.score_min > self.score_max
        ):
            raise ValueError("score_min is above score_max")
        if self.all is not None and self.any is not None:
            raise ValueError("a group is either all or any; nest one in the other for both")
        members = self.group
        if members is not None:
            named = [n for n in NAMED if getattr(self, n) is not None]
            if named:
                raise ValueError(
                    f"use either named conditions or a group (all or any), not both: "
                    f"put {', '.join(named)} in the group as tests"
                )
            check_size(members)
        return self

    @property
    def group(self) -> list[Condition] | None:
        return self.all if self.all is not None else self.any


@dataclass(frozen=True)
class Match:
    matched: bool
    failed: list[str]
    """The conditions that did not hold, e.g. ["country DE not in [FR]"]."""
    outcome: Outcome | None = None
    """A group's outcome, node by node (None for named conditions)."""

    def as_json(self) -> dict[str, Any]:
        """What a rule check says in an explanation."""
        out: dict[str, Any] = {"matched": self.matched, "failed": self.failed}
        if self.outcome is not None:
            out["held"] = self.outcome.reasons()
            out["conditions"] = self.outcome.as_json()
        return out


def primary_language(code: str | None) -> str | None:
    return code.strip().lower().replace("_", "-").split("-")[0] if code else None


def match(conditions: Conditions, lead: LeadProfile, score: int | None) -> Match:
    if conditions.group is not None:
        kind: Literal["all", "any"] = "all" if conditions.all is not None else "any"
        outcome = evaluate_group(kind, conditions.group, lead, score, "conditions")
        return Match(outcome.matched, outcome.failures(), outcome)
    return match_named(conditions, lead, score)


def match_named(conditions: Conditions, lead: LeadProfile, score: int | None) -> Match:
    failed: list[str] = []
    c = conditions
    if c.countries is not None:
        country = (lead.country or "").upper()
        if country not in c.countries:
            failed.append(f"country {lead.country or 'unknown'} not in {c.countries}")
    if c.regions is not None:
        region = (lead.region or "").strip().lower()
        if region not in c.regions:
            failed.append(f"region {lead.region or 'unknown'} not in {c.regions}")
    if c.industries is not None:
        industry = (lead.industry or "").strip().lower()
        if industry not in c.industries:
            failed.append(f"industry {lead.industry or 'unknown'} not in {c.industries}")
    if c.employees_min is not None or c.employees_max is not None:
        n = lead.employees
        low = c.employees_min if c.employees_min is not None else 0
        high = c.employees_max
        if n is None or n < low or (high is not None and n > high):
            failed.append(f"employees {n if n is not None else 'unknown'} not in {low}..{high}")
    if c.source_classes is not None and lead.source_class not in c.source_classes:
        failed.append(f"source class {lead.source_class} not in {c.source_classes}")
    if c.product_interest is not None:
        interests = {p.strip().lower() for p in lead.product_interest}
        if not interests & set(c.product_interest):
            failed.append(f"product interest {sorted(interests)} has none of {c.product_interest}")
    if c.score_min is not None or c.score_max is not None:
        low = c.score_min if c.score_min is not None else 0
        high = c.score_max if c.score_max is not None else 100
        if score is None or not low <= score <= high:
            failed.append(f"score {score if score is not None else 'unknown'} not in {low}..{high}")
    if c.languages is not None:
        language = primary_language(lead.language)
        if language not in {primary_language(v) for v in c.languages}:
            failed.append(f"language {lead.language or 'unknown'} not in {c.languages}")
    return Match(not failed, failed)


class RuleLike(Protocol):
    """What choosing needs of a rule (router.records.RuleRecord, or a backtest's candidate)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def pool(self) -> str: ...
    @property
    def conditions(self) -> Conditions: ...


@dataclass(frozen=True)
class Choice:
    """The rule a lead matched (or none) and the pool it chose, with every rule checked."""

    rule_id: str
    rule_name: str
    pool: str
    checked: list[dict[str, Any]]
    """Per rule tried, in order: its id, whether it matched, the conditions that failed
    (and for a group, those that held and the outcome of every node)."""


def choose(
    rules: Iterable[RuleLike],
    lead: LeadProfile,
    score: int | None,
    *,
    default_pool: str,
    no_rule: str = "default",
) -> Choice:
    """The first of `rules` (enabled ones, in order) the lead matches; else the default
    pool. A pure function: the router and backtests call it with the rules they hold."""
    checked: list[dict[str, Any]] = []
    for rule in rules:
        result = match(rule.conditions, lead, score)
        checked.append({"rule": rule.id, **result.as_json()})
        if result.matched:
            return Choice(rule.id, rule.name, rule.pool, checked)
    return Choice(no_rule, "no rule matched", default_pool, checked)


class OrderedRule(RuleLike, Protocol):
    @property
    def position(self) -> int: ...
    @property
    def enabled(self) -> bool: ...


R = TypeVar("R", bound=OrderedRule)


def enabled_in_order(rules: Iterable[R]) -> list[R]:
    """Rules as the router tries them: the enabled ones, by position, then id."""
    return sorted((r for r in rules if r.enabled), key=lambda r: (r.position, r.id))
