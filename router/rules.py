"""Routing rules: conditions on a lead's attributes that choose a pool.

Rules are tried in order (position, then id); the first whose every condition holds
chooses the pool. A condition on an attribute the lead does not have fails (a lead with no
country does not match `countries: [DE]`). Comparisons ignore case.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.events import LeadProfile, SourceClass
from services.controlchars import refuse_control_characters


def _lower(values: list[str] | None) -> list[str] | None:
    return None if values is None else [v.strip().lower() for v in values if v.strip()]


class Conditions(BaseModel):
    """Every condition set must hold; unset ones are ignored. Lists mean "any of"."""

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
        return self


@dataclass(frozen=True)
class Match:
    matched: bool
    failed: list[str]
    """The conditions that did not hold, e.g. ["country DE not in [FR]"]."""


def primary_language(code: str | None) -> str | None:
    return code.strip().lower().replace("_", "-").split("-")[0] if code else None


def match(conditions: Conditions, lead: LeadProfile, score: int | None) -> Match:
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
