"""ingest's HTTP request and response bodies."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.events import LeadProfile
from ingest.records import CapturedLead, Delivery, SubmittedLead


class LeadIn(SubmittedLead):
    """A lead posted to the generic API. It needs at least an email or a phone."""


class LeadAccepted(BaseModel):
    lead_id: str
    status: str = Field(
        "captured",
        description="captured (a new lead), merged (the same person's open lead), or "
        "duplicate (this delivery was seen before; nothing new was created)",
    )


class DeliveryOut(BaseModel):
    id: str
    lead_id: str | None = None
    source: str
    provider: str
    external_id: str | None
    status: str = Field(description="accepted, pending (to fetch), failed, rejected, deleted")
    reason: str | None = None
    received_at: datetime
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each lead is checked on its own (a bad one fails only its own result), so the items
    # are read as objects here and documented as what each must be.
    leads: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=1000,
        json_schema_extra={"items": {"$ref": "#/components/schemas/LeadIn"}},
    )


class BatchItem(BaseModel):
    index: int
    status: int
    lead_id: str | None = None
    result: str | None = None
    problem: dict[str, Any] | None = None


class BatchOut(BaseModel):
    accepted: int
    rejected: int
    results: list[BatchItem]


class LeadOut(BaseModel):
    id: str
    lead: LeadProfile
    deliveries: list[DeliveryOut]
    created_at: datetime


def delivery_out(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut(**asdict(delivery))


def lead_out(lead: CapturedLead) -> LeadOut:
    return LeadOut(
        id=lead.id,
        lead=lead.lead,
        deliveries=[delivery_out(d) for d in lead.deliveries],
        created_at=lead.created_at,
    )
