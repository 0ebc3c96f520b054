"""The connectors' domain records: what their repository returns and their domain works with
(the HTTP bodies are schemas.py's, made of these by the routes with `of`). A connector's
configuration as routing keeps it is base.py's `ConnectorConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from router.connectors.base import ConnectorConfig

DeliveryStatus = Literal["pending", "delivered", "skipped", "dead"]
"""`skipped`: not wanted any more when it came due (a reminder of a lead touched or
reassigned since); nothing was sent."""


@dataclass(frozen=True)
class StoredConnector:
    """A connector as the repository returns it: its configuration and when it was made
    and last changed."""

    config: ConnectorConfig
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ConnectorDelivery:
    """A router event to write to one connector's vendor, and how its attempts went."""

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
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class AccountSync:
    """A connector's account sync as stored: where the next run asks the CRM from, when it
    is due, the lease of the replica running it and how the last runs went (a connector
    never synced has none: the defaults)."""

    connector_id: str
    cursor: str | None = None
    next_run_at: datetime | None = None
    lease_id: str | None = None
    attempts: int = 0
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class UnmatchedOwner:
    """A CRM owner no rep's `crm_owner_ids` has: how many accounts they own, and some of
    those accounts' domains."""

    owner_id: str
    accounts: int
    domains: list[str]


@dataclass(frozen=True)
class AccountSyncStatus:
    """A connector's account sync: whether it is on, the last run, the cursor, what the
    last run counted, the owners that match no rep and the vendor's last error."""

    connector_id: str
    enabled: bool
    interval_minutes: int
    running: bool
    cursor: str | None
    next_run_at: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_attempt_at: datetime | None
    attempts: int
    last_status_code: int | None
    last_error: str | None
    counts: dict[str, int] = field(default_factory=dict)
    unmatched_owners: list[UnmatchedOwner] = field(default_factory=list)
