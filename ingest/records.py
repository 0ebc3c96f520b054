"""ingest's domain records: a lead as submitted, a stored lead with its deliveries, a
delivery waiting to be fetched, what erasure redacts of a delivery, and a stored source. The
repository returns these; the API turns them into its response bodies (`schemas`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from contracts.events import LeadProfile, SourceClass
from ingest.providers.base import Source
from services.controlchars import refuse_control_characters


def _number_as_text(value: Any) -> Any:
    """A phone number some clients send as a JSON number (no "+" and no leading 0 fit in
    one): its digits, for the normaliser to read."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


class SubmittedLead(BaseModel):
    """A lead's fields as submitted (posted to the generic API, or mapped from a provider's
    delivery), checked but not yet normalised; `service.profile_of` normalises it."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000)

    email: str | None = Field(None, max_length=320)
    phone: Annotated[str | None, BeforeValidator(_number_as_text)] = Field(
        None, max_length=64, description="As typed; a JSON number is read as its digits"
    )
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    company: str | None = None
    website: str | None = None
    job_title: str | None = None
    industry: str | None = None
    employees: int | None = Field(None, ge=0)
    country: str | None = Field(None, description="ISO 3166-1 alpha-2, e.g. DE")
    region: str | None = None
    language: str | None = None
    product_interest: list[str] = Field(default_factory=list, max_length=50)
    timeframe_days: int | None = Field(
        None, ge=0, le=3650, description="When the prospect expects to buy, in days"
    )
    asked_to_be_contacted: bool = False
    has_budget: bool | None = None
    need: str | None = None
    source: str = Field("api", min_length=1, max_length=100)
    source_class: SourceClass | None = None
    campaign: str | None = None
    is_test: bool = False
    consent_email: bool | None = None
    answers: dict[str, str] = Field(default_factory=dict, max_length=200)
    utm: dict[str, str] = Field(default_factory=dict, max_length=20)

    # A program is told to fix what it sends; provider deliveries lose them instead
    # (providers.base.RawLead), since a person's form cannot be asked to resend.
    _no_control_characters = field_validator("*")(refuse_control_characters)


@dataclass(frozen=True)
class Delivery:
    """One delivery of a lead: what a source sent once, and what became of it."""

    id: str
    lead_id: str | None
    source: str
    provider: str
    external_id: str | None
    status: str
    reason: str | None
    received_at: datetime
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    """When a pending fetch is tried next (None unless pending)."""


@dataclass(frozen=True)
class CapturedLead:
    """A normalised lead with every delivery that made it, oldest first."""

    id: str
    lead: LeadProfile
    deliveries: list[Delivery]
    created_at: datetime


@dataclass(frozen=True)
class PendingFetch:
    """A delivery a fetch worker has leased: what to fetch, and how often it was tried."""

    delivery_id: str
    source: str
    external_id: str
    ref: dict[str, str]
    attempts: int


@dataclass(frozen=True)
class DeliveryText:
    """What a delivery holds of a person (its payload and messages), for erasure."""

    id: str
    payload: Any
    reason: str | None
    last_error: str | None


@dataclass(frozen=True)
class StoredSource:
    """A source set through the API, as stored: its secrets opened."""

    source: Source
    created_at: datetime
    updated_at: datetime
    # Secret name -> when the previous value of a rotated secret stops verifying.
    previous_until: Mapping[str, datetime] = field(default_factory=dict)
