"""Configuring connectors (their kind, settings and sealed credentials), their deliveries and
their account syncs: what the connectors' admin and manager routes call
(router/connectors/api.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from router.connectors import KINDS, repository
from router.connectors.accounts import AccountSyncWorker, plan_of, status_of
from router.connectors.base import SyncsAccounts
from router.connectors.records import (
    AccountSyncStatus,
    ConnectorDelivery,
    DeliveryStatus,
    StoredConnector,
)
from router.connectors.worker import ConnectorWorker
from router.repository import Conn
from router.settings import RouterSettings
from services.crypto import SecretBox
from services.db import Tx
from services.egress import PrivateAddress, check_public
from services.errors import Conflict, DomainError, FieldError, NotFound


class InvalidConnector(DomainError):
    """A connector's settings or credentials that do not validate (422, naming each field)."""

    status = 422


@dataclass(frozen=True)
class CheckedConnector:
    """A connector as it is to be stored: its settings parsed, its credentials sealed, and
    the address of the vendor's API it will call (if its settings name one)."""

    kind: str
    settings: dict[str, Any]
    sealed: str
    active: bool
    api_base_url: str | None
    api_base_setting: str


def _model_errors(prefix: str, exc: ValidationError) -> list[FieldError]:
    """Each error's place and message, never the value given (credentials are secret)."""
    return [
        FieldError(".".join([prefix, *(str(p) for p in e["loc"])]), e["msg"])
        for e in exc.errors(include_input=False, include_url=False)
    ]


class Connectors:
    """The connectors managers configure, with their deliveries and account syncs."""

    def __init__(
        self,
        settings: RouterSettings,
        box: SecretBox,
        worker: ConnectorWorker,
        syncs: AccountSyncWorker | None = None,
    ) -> None:
        self.settings = settings
        self.box = box
        self.worker = worker
        self.syncs = syncs

    def credential_names(self, stored: StoredConnector) -> list[str]:
        """The names of the credentials the connector has (never their values)."""
        credentials: dict[str, Any] = orjson.loads(self.box.open(stored.config.credentials))
        return [name for name, value in credentials.items() if value]

    async def checked(
        self,
        conn: Conn,
        connector_id: str,
        kind_name: str,
        settings: dict[str, Any],
        credentials: dict[str, str] | None,
        active: bool,
    ) -> CheckedConnector:
        """The connector to store under `connector_id`, its settings and credentials checked
        as its kind's; credentials left out (None) are the stored ones, each one given
        replaces the stored one of that name."""
        kind = KINDS[kind_name]
        try:
            parsed: BaseModel = kind.settings_model.model_validate(settings)
        except ValidationError as exc:
            errors = _model_errors("settings", exc)
            raise InvalidConnector(
                f"The {kind_name} settings are not valid.", errors=errors
            ) from None
        existing = await repository.connectors.get_connector(conn, connector_id)
        stored: dict[str, Any] = {}
        if existing is not None:
            if existing.config.kind != kind_name:
                raise Conflict(
                    f"Connector {connector_id!r} is a {existing.config.kind} connector; delete "
                    f"it to make a {kind_name} one under that id."
                )
            stored = orjson.loads(self.box.open(existing.config.credentials))
        elif credentials is None:
            raise InvalidConnector(
                f"A new {kind_name} connector needs its credentials.",
                errors=[FieldError("credentials", "required when creating a connector")],
            )
        merged = {**stored, **(credentials or {})}
        try:
            opened = kind.credentials_model.model_validate(merged)
        except ValidationError as exc:
            errors = _model_errors("credentials", exc)
            raise InvalidConnector(
                f"The {kind_name} credentials are not valid.", errors=errors
            ) from None
        if mismatched := kind.check(parsed, opened):
            raise InvalidConnector(
                f"The {kind_name} settings and credentials do not agree: "
                + "; ".join(f"{name}: {message}" for name, message in mismatched)
                + ".",
                errors=[FieldError(name, message) for name, message in mismatched],
            )
        return CheckedConnector(
            kind=kind_name,
            settings=parsed.model_dump(mode="json", exclude_defaults=True),
            sealed=self.box.seal(orjson.dumps(merged).decode()),
            active=active,
            api_base_url=kind.api_base_url(parsed),
            api_base_setting=kind.api_base_setting,
        )

    async def refuse_private(self, connector: CheckedConnector) -> None:
        """Connectors call public addresses only, unless the settings allow private ones."""
        url, setting = connector.api_base_url, connector.api_base_setting
        if url is None or self.settings.allow_private_webhook_urls:
            return
        try:
            await check_public(url)
        except PrivateAddress as exc:
            raise InvalidConnector(
                f"settings.{setting} cannot be used: {exc}. Connectors call public "
                "addresses only; LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS=true lifts it "
                "(a local fake, a test).",
                errors=[FieldError(f"settings.{setting}", f"must reach a public address: {exc}")],
            ) from exc

    async def put(
        self, tx: Tx, connector_id: str, connector: CheckedConnector
    ) -> tuple[StoredConnector, bool]:
        """Store the checked connector; the connector, and whether it is new."""
        values = {
            "kind": connector.kind,
            "settings": connector.settings,
            "credentials": connector.sealed,
            "active": connector.active,
        }
        now = tx.now()
        created = await repository.connectors.get_connector(tx, connector_id) is None
        if created:
            await repository.connectors.insert_connector(
                tx, {"id": connector_id, **values, "created_at": now, "updated_at": now}
            )
        else:
            await repository.connectors.update_connector(
                tx, connector_id, {**values, "updated_at": now}
            )
        saved = await repository.connectors.get_connector(tx, connector_id)
        assert saved is not None
        return saved, created

    async def all(self, conn: Conn) -> list[StoredConnector]:
        return await repository.connectors.list_connectors(conn)

    async def get(self, conn: Conn, connector_id: str) -> StoredConnector:
        found = await repository.connectors.get_connector(conn, connector_id)
        if found is None:
            raise NotFound(f"There is no connector {connector_id!r}.")
        return found

    async def delete(self, tx: Tx, connector_id: str) -> None:
        """Remove a connector, its deliveries and what it remembers of the vendor's records."""
        if not await repository.connectors.delete_connector(tx, connector_id):
            raise NotFound(f"There is no connector {connector_id!r}.")

    async def deliveries(
        self, conn: Conn, connector_id: str, status: DeliveryStatus | None, limit: int
    ) -> list[ConnectorDelivery]:
        """A connector's deliveries, newest first (those of `status` only, if given)."""
        await self.get(conn, connector_id)
        return await repository.deliveries.list_deliveries(conn, connector_id, status, limit)

    async def retry(self, tx: Tx, connector_id: str, delivery_id: str) -> ConnectorDelivery:
        """Try a dead (or pending) delivery again now, with a fresh retry window."""
        found = await repository.deliveries.get_delivery(tx, delivery_id)
        if found is None or found.connector_id != connector_id:
            raise NotFound(f"There is no delivery {delivery_id!r} of that connector.")
        if found.status == "delivered":
            raise Conflict(f"Delivery {delivery_id!r} was delivered already.")
        now = tx.now()
        await repository.deliveries.retry_delivery(
            tx, delivery_id, now, now + timedelta(hours=self.settings.connector_retry_hours)
        )
        tx.after_commit(self.worker.wake)
        again = await repository.deliveries.get_delivery(tx, delivery_id)
        assert again is not None
        return again

    async def account_sync(self, conn: Conn, connector_id: str, now: datetime) -> AccountSyncStatus:
        """The connector's account sync at `now`: the last run, the cursor, what it counted,
        the CRM owners that match no rep and the vendor's last error."""
        stored = await self.get(conn, connector_id)
        return await status_of(conn, stored.config, now)

    async def request_account_sync(
        self, tx: Tx, connector_id: str, *, full: bool
    ) -> AccountSyncStatus:
        """Run the account sync now (`full`: from the first account, not the cursor); the
        status as it starts."""
        stored = await self.get(tx, connector_id)
        if not isinstance(KINDS[stored.config.kind], SyncsAccounts):
            raise Conflict(f"A {stored.config.kind} connector has no accounts to sync.")
        if plan_of(stored.config) is None:
            raise Conflict(
                f"Connector {connector_id!r} does not sync accounts: it is inactive or "
                "settings.sync_accounts is off (PUT the connector with "
                '"sync_accounts": true).'
            )
        now = tx.now()
        current = await status_of(tx, stored.config, now)
        if current.running:
            raise Conflict(f"Connector {connector_id!r}'s account sync is running.")
        await repository.account_syncs.request_sync(tx, connector_id, now, full=full)
        if self.syncs is not None:
            tx.after_commit(self.syncs.wake)
        return await status_of(tx, stored.config, now)
