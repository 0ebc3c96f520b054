"""What a connector kind is: its settings and credentials, the router events it writes to
its vendor, how it writes one, and (for kinds that take activities in) how it reads a
vendor's webhook.

A kind is pure of the database: the worker (router/connectors/worker.py) hands it a due
delivery and the routing configuration it needs (the connector, the rep), and records what
it returns; `Inbound` (router/connectors/inbound.py) hands it a verified webhook and
logs the activities it finds through the router's own activity code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, Field

from router.records import RepRecord


@dataclass(frozen=True)
class ConnectorConfig:
    """A configured connector as routing keeps it in memory (router/config.py)."""

    id: str
    kind: str
    settings: Mapping[str, Any]
    credentials: str
    """Sealed (services/crypto.py), as stored: a JSON object of the kind's credentials."""
    active: bool


@dataclass(frozen=True)
class Delivery:
    """A router event to write to one connector's vendor."""

    id: str
    connector_id: str
    event_id: str
    event_type: str
    lead_id: str | None
    payload: str
    """The event as webhooks carry it: {"type", "timestamp", "subject", "data"}."""
    attempts: int
    expires_at: datetime


@dataclass(frozen=True)
class Written:
    """What a delivery wrote: the vendor's record for the lead (kept, so that the vendor's
    activities on it find the lead), or why it wrote nothing."""

    record_id: str | None = None
    skipped: str | None = None
    """Set when the delivery was no longer wanted when it came due (a reminder of a lead
    touched or reassigned since): recorded as `skipped` with this reason, nothing sent."""


@dataclass(frozen=True)
class Planned:
    """A delivery a kind wants for a router event: at once, or later (a reminder)."""

    event_type: str
    """The delivery's type: the event's, or the kind's own follow-up (`FIRST_TOUCH_REMINDER`)."""
    at: datetime | None = None
    """When it is due; None: at once."""
    key: str = ""
    """Tells apart several deliveries of one event (their event id is `<event id>/<key>`)."""


FIRST_TOUCH_REMINDER = "leadfarm.reminder.first_touch"
"""Not an event: a delivery a kind plans with `lead.assigned` or `lead.reassigned`, due
before the first-touch deadline, carrying that event."""


@dataclass(frozen=True)
class LeadNow:
    """The lead as routing has it when a delivery is sent (for kinds that read it:
    `Connector.reads_lead`)."""

    lead_id: str
    status: str
    rep_id: str | None
    assignment_id: str | None
    touched_at: datetime | None
    """When the current assignment's rep first touched the lead (None: not yet)."""
    profile: Mapping[str, Any]


class VendorError(Exception):
    """The vendor refused or could not be reached. `permanent`: no retry can succeed (the
    request itself is wrong); otherwise it is retried with backoff, then dead."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        permanent: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.permanent = permanent
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Target:
    """Everything a delivery needs besides the event: the connector's settings and opened
    credentials, and the reps (their ids in the vendor's system)."""

    connector: ConnectorConfig
    settings: BaseModel
    credentials: BaseModel
    reps: Mapping[str, RepRecord] = field(default_factory=dict)
    lead: LeadNow | None = None
    """The lead as it is now, for the delivery types the kind `reads_lead` of."""


@dataclass(frozen=True)
class InboundActivity:
    """One activity a vendor's webhook names, as fetched from the vendor."""

    external_id: str
    """The vendor's id of the activity (idempotency key)."""
    channel: str
    outcome: str
    owner_id: str | None
    record_ids: tuple[str, ...]
    """The vendor's records it is logged on (contacts)."""
    emails: tuple[str, ...] = ()
    """The emails of those records, when fetched."""
    lead_ids: tuple[str, ...] = ()
    """Leadfarm lead ids written on those records, when the connector writes one."""
    note: str | None = None
    rep_id: str | None = None
    """The rep's Leadfarm id, when the vendor knows it (else `owner_id` names the rep)."""


@dataclass(frozen=True)
class InboundEvent:
    """One event of a vendor's webhook: an activity to log, or something ignored."""

    index: int
    event_id: str
    activity: InboundActivity | None = None
    ignored: str | None = None
    """Why it is not an activity Leadfarm counts (another object, another event)."""


class Connector(ABC):
    kind: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]]
    credentials_model: ClassVar[type[BaseModel]]
    event_types: ClassVar[frozenset[str]]
    """The router event types (full CloudEvents types) it writes to its vendor."""
    reads_lead: ClassVar[frozenset[str]] = frozenset()
    """The delivery types for which the worker reads the lead as it is now (`Target.lead`)."""

    def plan(
        self, event_type: str, data: Mapping[str, Any], settings: BaseModel, now: datetime
    ) -> list[Planned]:
        """The deliveries a router event makes for a connector of this kind (queued in the
        transaction that says the event, at `now`): by default one, at once, for its
        `event_types`."""
        return [Planned(event_type)] if event_type in self.event_types else []

    def check(self, settings: BaseModel, credentials: BaseModel) -> list[tuple[str, str]]:
        """Problems between settings and credentials, each (field, message), e.g. a
        credential a setting requires; checked when the connector is configured."""
        return []

    api_base_setting: ClassVar[str] = "api_base_url"
    """The setting `api_base_url` reads (named in a problem when it is refused)."""

    @abstractmethod
    async def deliver(self, delivery: Delivery, target: Target, http: httpx.AsyncClient) -> Written:
        """Write one event to the vendor; raise `VendorError` with the vendor's answer."""

    def api_base_url(self, settings: BaseModel) -> str | None:
        """The vendor API's base URL set by the admin, checked for egress (SSRF)."""
        return None


@dataclass(frozen=True)
class CrmAccount:
    """An account (company) as the vendor's CRM has it: its web domain and its owner, the
    owner's id in the vendor's system (a rep's `crm_owner_ids[kind]`)."""

    external_id: str
    """The vendor's id of the account (company, Account)."""
    domain: str
    """Lower case, no scheme, path or `www.` (what `PUT /router/v1/accounts/{domain}` takes)."""
    owner_id: str | None
    name: str | None = None


@dataclass(frozen=True)
class AccountPage:
    """One page of accounts changed since a cursor, and the cursor to ask from next."""

    accounts: list[CrmAccount]
    next_cursor: str | None
    """None: this was the last page of this pass (keep the last cursor for the next pass)."""


class AccountSyncSettings(BaseModel):
    """The settings every kind that `SyncsAccounts` takes (its settings model inherits
    them): whether the scheduler (router/connectors/accounts.py) syncs its accounts, and
    how often."""

    sync_accounts: bool = Field(
        False,
        description="Sync account owners from the CRM's accounts (companies) on a schedule",
    )
    sync_interval_minutes: int = Field(
        60, ge=5, le=7 * 24 * 60, description="Minutes between two account syncs"
    )


class SyncsAccounts(ABC):
    """A kind whose vendor's accounts (companies) can be synced as account owners: the
    router's account-owner routing then follows the CRM's truth (issue 16, item 3)."""

    @abstractmethod
    async def accounts(
        self, cursor: str | None, target: Target, http: httpx.AsyncClient
    ) -> AccountPage:
        """The accounts changed since `cursor` (None: all of them), one page at a time.
        Raises `VendorError` with the vendor's answer."""


class BadWebhook(Exception):
    """A vendor's webhook that cannot be read: `field` names where (a JSON pointer)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class TakesActivities(ABC):
    """A kind whose vendor tells Leadfarm of the activities reps log there."""

    def refused_field(self, index: int) -> str:
        """Where a refused activity is in the webhook's body (a problem's `errors` field)."""
        return f"{index}.objectId"

    @abstractmethod
    def verify(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        received_at: datetime,
        target: Target,
    ) -> None:
        """Check the vendor's signature; raise `Unauthorized` (ingest's) saying why not."""

    @abstractmethod
    async def read(
        self, body: bytes, target: Target, http: httpx.AsyncClient
    ) -> list[InboundEvent]:
        """The webhook's events, each activity fetched from the vendor as it now is.
        Raises `BadWebhook` for a body it cannot read, `VendorError` when the vendor's
        API cannot be asked."""
