"""Webhook subscriptions and their deliveries."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlparse

import httpx
from pydantic import (
    BaseModel,
    Field,
    field_validator,
)

from router.records import DeliveryStatus, WebhookDelivery
from router.schemas.common import ROUTER_EVENT_TYPES, Strict


def normalise_event_type(name: str) -> str:
    """`lead.assigned` or `leadfarm.lead.assigned.v1` -> the router's versioned type."""
    if name in ROUTER_EVENT_TYPES:
        return name
    for event_type in ROUTER_EVENT_TYPES:
        short = event_type.removeprefix("leadfarm.").rsplit(".", 1)[0]
        if name == short:
            return event_type
    raise ValueError(f"{name!r} is not a router event (one of {ROUTER_EVENT_TYPES})")


def _check_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http or https URL")
    try:
        httpx.URL(value)  # what the webhook worker will send to
    except httpx.InvalidURL as exc:
        raise ValueError(f"is not a URL that can be called: {exc}") from None
    return value


class SubscriptionIn(Strict):
    url: str = Field(max_length=2000)
    events: list[str] = Field(
        default_factory=list,
        description="Router event types (lead.assigned or leadfarm.lead.assigned.v1); "
        "empty: every router event",
    )
    rep_id: str | None = Field(None, max_length=64, description="Only this rep's events")
    description: str | None = Field(None, max_length=500)
    active: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return sorted({normalise_event_type(e) for e in value})


class SubscriptionPatch(Strict):
    url: str | None = Field(None, max_length=2000)
    events: list[str] | None = None
    rep_id: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=500)
    active: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted({normalise_event_type(e) for e in value})


class SubscriptionOut(BaseModel):
    id: str
    url: str
    events: list[str]
    rep_id: str | None
    description: str | None
    active: bool
    secret_hint: str = Field(description="The first characters of the signing secret")
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="The Standard Webhooks signing secret (whsec_...). Shown once; store it."
    )


class SubscriptionDeliveryOut(BaseModel):
    id: str
    subscription_id: str
    event_id: str
    event_type: str
    lead_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    expires_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, record: WebhookDelivery) -> SubscriptionDeliveryOut:
        return cls.model_validate(record, from_attributes=True)
