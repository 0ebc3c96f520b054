"""The connectors' HTTP request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from router.connectors.records import AccountSyncStatus, ConnectorDelivery, DeliveryStatus
from router.schemas.common import CrmKind, Strict


class ConnectorIn(Strict):
    """A connector: its kind, its settings and its credentials (sealed at rest, never
    shown again)."""

    kind: CrmKind
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The kind's settings (docs/integrations.md)"
    )
    credentials: dict[str, str] | None = Field(
        None,
        description="The kind's credentials, e.g. {'access_token': 'pat-...', "
        "'client_secret': '...'}; required when creating, left out to keep those stored",
    )
    active: bool = True


class ConnectorOut(BaseModel):
    id: str
    kind: str
    settings: dict[str, Any]
    credentials: dict[str, str] = Field(
        description="Each credential's name with a masked hint; never the value"
    )
    active: bool
    webhook_url_path: str | None = Field(
        None, description="Where the vendor posts its webhooks (activities), on this host"
    )
    created_at: datetime
    updated_at: datetime


class ConnectorDeliveryOut(BaseModel):
    id: str
    connector_id: str
    event_id: str
    event_type: str
    lead_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    expires_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None = Field(
        description="The vendor's answer to the last attempt, or why it was skipped"
    )
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: ConnectorDelivery) -> ConnectorDeliveryOut:
        return cls.model_validate(delivery, from_attributes=True)


class InboundResult(BaseModel):
    index: int
    event_id: str
    outcome: Literal["logged", "duplicate", "ignored"]
    activity_id: str | None = None
    lead_id: str | None = None
    reason: str | None = None


class InboundOut(BaseModel):
    results: list[InboundResult]


class UnmatchedOwner(BaseModel):
    owner_id: str = Field(description="The owner's id in the CRM, which no rep's crm_owner_ids has")
    accounts: int = Field(description="How many of the CRM's accounts that owner has")
    domains: list[str] = Field(description="Some of those accounts' domains (at most 10)")


class AccountSyncOut(BaseModel):
    connector_id: str
    enabled: bool = Field(description="settings.sync_accounts of a kind that syncs accounts")
    interval_minutes: int
    running: bool = Field(description="A replica is syncing it now")
    cursor: str | None = Field(
        description="Where the next run asks the CRM from (the vendor's own format)"
    )
    next_run_at: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None = Field(description="The last run that reached the end")
    last_attempt_at: datetime | None
    attempts: int = Field(description="Runs failed in a row (retried with backoff)")
    last_status_code: int | None
    last_error: str | None = Field(description="The vendor's answer to the last failed run")
    counts: dict[str, int] = Field(
        description="The last run's accounts: read, added, moved, unchanged, unmatched, "
        "no_owner, no_domain, removed, rematched"
    )
    unmatched_owners: list[UnmatchedOwner] = Field(
        description="Owners of synced accounts that match no rep: set crm_owner_ids on the "
        "rep, and the next run gives them their accounts"
    )

    @classmethod
    def of(cls, status: AccountSyncStatus) -> AccountSyncOut:
        return cls.model_validate(status, from_attributes=True)


class AccountSyncIn(Strict):
    full: bool = Field(
        False, description="Start from the beginning (every account), not from the cursor"
    )
