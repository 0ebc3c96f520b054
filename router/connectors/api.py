"""The connectors' HTTP API under /router/v1: configuration (admin key), their deliveries
(manager key), and the vendors' webhooks (the vendor's signature, no key)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import httpx
import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ValidationError

from ingest.providers.base import Unauthorized
from router import metrics
from router.connectors import KINDS, repository
from router.connectors.accounts import AccountSyncWorker, plan_of, status_of
from router.connectors.base import (
    BadWebhook,
    ConnectorConfig,
    SyncsAccounts,
    TakesActivities,
    VendorError,
)
from router.connectors.generic import ActivitiesWebhook
from router.connectors.inbound import Refusal, take_in
from router.connectors.schemas import (
    AccountSyncIn,
    AccountSyncOut,
    ConnectorDeliveryOut,
    ConnectorIn,
    ConnectorOut,
    DeliveryStatus,
    InboundOut,
    InboundResult,
)
from router.connectors.worker import ConnectorWorker, open_target
from router.schemas.common import ID_PATTERN
from router.service import Router
from services.auth import AdminKey, ManagerKey
from services.crypto import SecretBox
from services.db import UnitOfWork
from services.egress import PrivateAddress, check_public
from services.openapi import declared_body, schema_ref
from services.problems import Problem, field_error

ConnectorId = Annotated[str, Path(min_length=1, max_length=100, pattern=ID_PATTERN)]

HUBSPOT_EXAMPLE: dict[str, Any] = {
    "kind": "hubspot",
    "settings": {"on_return": "clear_owner"},
    "credentials": {"access_token": "pat-na1-...", "client_secret": "..."},
}
SLACK_EXAMPLE: dict[str, Any] = {
    "kind": "slack",
    "settings": {
        "remind_before_minutes": 2,
        "breaches_to": "manager_channel",
        "manager_channel": "C0123MANAGERS",
    },
    "credentials": {"bot_token": "xoxb-..."},
}
SALESFORCE_EXAMPLE: dict[str, Any] = {
    "kind": "salesforce",
    "settings": {
        "login_url": "https://yourco.my.salesforce.com",
        "lead_id_field": "Leadfarm_Lead_Id__c",
    },
    "credentials": {
        "client_id": "3MVG9...",
        "client_secret": "...",
        "webhook_secret": "whsec_...",
    },
}
WEBHOOK_EXAMPLE = [
    {
        "eventId": 100,
        "subscriptionId": 2001,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": 1767603600000,
        "subscriptionType": "object.creation",
        "attemptNumber": 0,
        "objectId": 9001,
        "objectTypeId": "0-48",
        "changeSource": "CRM",
    }
]


def webhook_path(connector_id: str) -> str:
    return f"/router/v1/connectors/{connector_id}/webhooks"


def _invalid(errors: list[dict[str, str]], detail: str) -> Problem:
    return Problem(422, detail, errors=errors)


def _model_errors(prefix: str, exc: ValidationError) -> list[dict[str, str]]:
    """Each error's place and message, never the value given (credentials are secret)."""
    return [
        field_error(".".join([prefix, *(str(p) for p in e["loc"])]), e["msg"])
        for e in exc.errors(include_input=False, include_url=False)
    ]


def _masked(credentials: dict[str, Any]) -> dict[str, str]:
    return {name: "set" for name, value in credentials.items() if value}


def build_connectors_router(
    unit: UnitOfWork,
    router_: Router,
    worker: ConnectorWorker,
    box: SecretBox,
    syncs: AccountSyncWorker | None = None,
) -> APIRouter:
    router = APIRouter()  # included in the /router/v1 router
    settings = router_.settings

    def out(stored: repository.connectors.StoredConnector) -> ConnectorOut:
        c = stored.config
        credentials = orjson.loads(box.open(c.credentials))
        return ConnectorOut(
            id=c.id,
            kind=c.kind,
            settings=dict(c.settings),
            credentials=_masked(credentials),
            active=c.active,
            webhook_url_path=webhook_path(c.id)
            if isinstance(KINDS[c.kind], TakesActivities)
            else None,
            created_at=stored.created_at,
            updated_at=stored.updated_at,
        )

    async def refuse_private(url: str | None, setting: str) -> None:
        if url is None or settings.allow_private_webhook_urls:
            return
        try:
            await check_public(url)
        except PrivateAddress as exc:
            raise _invalid(
                [field_error(f"settings.{setting}", f"must reach a public address: {exc}")],
                f"settings.{setting} cannot be used: {exc}. Connectors call public "
                "addresses only; LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS=true lifts it "
                "(a local fake, a test).",
            ) from exc

    @router.put(
        "/connectors/{connector_id}",
        response_model=ConnectorOut,
        responses={201: {"model": ConnectorOut, "description": "Created"}},
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/json": {
                        "examples": {
                            "hubspot": {"value": HUBSPOT_EXAMPLE},
                            "salesforce": {"value": SALESFORCE_EXAMPLE},
                            "slack": {"value": SLACK_EXAMPLE},
                        }
                    }
                }
            }
        },
    )
    async def put_connector(
        connector_id: ConnectorId, body: ConnectorIn, response: Response, _: AdminKey
    ) -> ConnectorOut:
        """Create or replace a connector. Credentials are sealed at rest and never shown
        again; left out on a replace, the stored ones are kept (given, each one given
        replaces the stored one of that name)."""
        kind = KINDS[body.kind]
        try:
            parsed: BaseModel = kind.settings_model.model_validate(body.settings)
        except ValidationError as exc:
            errors = _model_errors("settings", exc)
            raise _invalid(errors, f"The {body.kind} settings are not valid.") from None
        async with unit.read() as conn:
            existing = await repository.connectors.get_connector(conn, connector_id)
        stored: dict[str, Any] = {}
        if existing is not None:
            if existing.config.kind != body.kind:
                raise Problem(
                    409,
                    f"Connector {connector_id!r} is a {existing.config.kind} connector; delete "
                    f"it to make a {body.kind} one under that id.",
                )
            stored = orjson.loads(box.open(existing.config.credentials))
        elif body.credentials is None:
            raise _invalid(
                [field_error("credentials", "required when creating a connector")],
                f"A new {body.kind} connector needs its credentials.",
            )
        credentials = {**stored, **(body.credentials or {})}
        try:
            opened = kind.credentials_model.model_validate(credentials)
        except ValidationError as exc:
            errors = _model_errors("credentials", exc)
            raise _invalid(errors, f"The {body.kind} credentials are not valid.") from None
        if mismatched := kind.check(parsed, opened):
            raise _invalid(
                [field_error(name, message) for name, message in mismatched],
                f"The {body.kind} settings and credentials do not agree: "
                + "; ".join(f"{name}: {message}" for name, message in mismatched)
                + ".",
            )
        await refuse_private(kind.api_base_url(parsed), kind.api_base_setting)
        values = {
            "kind": body.kind,
            "settings": parsed.model_dump(mode="json", exclude_defaults=True),
            "credentials": box.seal(orjson.dumps(credentials).decode()),
            "active": body.active,
        }
        async with unit.transaction() as tx:
            now = tx.now()
            if await repository.connectors.get_connector(tx, connector_id) is None:
                await repository.connectors.insert_connector(
                    tx, {"id": connector_id, **values, "created_at": now, "updated_at": now}
                )
                response.status_code = 201
            else:
                await repository.connectors.update_connector(
                    tx, connector_id, {**values, "updated_at": now}
                )
            saved = await repository.connectors.get_connector(tx, connector_id)
        assert saved is not None
        return out(saved)

    @router.get("/connectors", response_model=list[ConnectorOut])
    async def list_connectors(_: AdminKey) -> list[ConnectorOut]:
        async with unit.read() as conn:
            return [out(c) for c in await repository.connectors.list_connectors(conn)]

    async def connector_or_404(
        conn: Any, connector_id: str
    ) -> repository.connectors.StoredConnector:
        found = await repository.connectors.get_connector(conn, connector_id)
        if found is None:
            raise Problem(404, f"There is no connector {connector_id!r}.")
        return found

    @router.get("/connectors/{connector_id}", response_model=ConnectorOut)
    async def get_connector(connector_id: ConnectorId, _: AdminKey) -> ConnectorOut:
        async with unit.read() as conn:
            return out(await connector_or_404(conn, connector_id))

    @router.delete("/connectors/{connector_id}", status_code=204)
    async def delete_connector(connector_id: ConnectorId, _: AdminKey) -> None:
        """Remove a connector, its deliveries and what it remembers of the vendor's records."""
        async with unit.transaction() as tx:
            if not await repository.connectors.delete_connector(tx, connector_id):
                raise Problem(404, f"There is no connector {connector_id!r}.")

    @router.get("/connectors/{connector_id}/deliveries", response_model=list[ConnectorDeliveryOut])
    async def list_deliveries(
        connector_id: ConnectorId,
        _: ManagerKey,
        status: DeliveryStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[ConnectorDeliveryOut]:
        """A connector's deliveries, newest first; `status=dead` lists those given up,
        each with the vendor's answer."""
        async with unit.read() as conn:
            await connector_or_404(conn, connector_id)
            return await repository.deliveries.list_deliveries(conn, connector_id, status, limit)

    @router.post(
        "/connectors/{connector_id}/deliveries/{delivery_id}/retry",
        response_model=ConnectorDeliveryOut,
    )
    async def retry_delivery(
        connector_id: ConnectorId, delivery_id: str, _: ManagerKey
    ) -> ConnectorDeliveryOut:
        """Try a dead (or pending) delivery again now, with a fresh retry window."""
        async with unit.transaction() as tx:
            found = await repository.deliveries.get_delivery(tx, delivery_id)
            if found is None or found.connector_id != connector_id:
                raise Problem(404, f"There is no delivery {delivery_id!r} of that connector.")
            if found.status == "delivered":
                raise Problem(409, f"Delivery {delivery_id!r} was delivered already.")
            now = tx.now()
            await repository.deliveries.retry_delivery(
                tx, delivery_id, now, now + timedelta(hours=settings.connector_retry_hours)
            )
            tx.after_commit(worker.wake)
            again = await repository.deliveries.get_delivery(tx, delivery_id)
        assert again is not None
        return again

    @router.get("/connectors/{connector_id}/accounts-sync", response_model=AccountSyncOut)
    async def get_accounts_sync(connector_id: ConnectorId, _: ManagerKey) -> AccountSyncOut:
        """The connector's account sync (docs/integrations.md, "Account owners from the
        CRM"): the last run, the cursor, what it counted, the CRM owners that match no rep
        and the vendor's last error."""
        async with unit.read() as conn:
            stored = await connector_or_404(conn, connector_id)
            return await status_of(conn, stored.config, unit.clock.now())

    @router.post(
        "/connectors/{connector_id}/accounts-sync",
        response_model=AccountSyncOut,
        status_code=202,
    )
    async def run_accounts_sync(
        connector_id: ConnectorId, _: AdminKey, body: AccountSyncIn | None = None
    ) -> AccountSyncOut:
        """Run the account sync now (`full`: from the first account, not the cursor); the
        answer is the status as it starts (202): `GET` it to see the run end."""
        async with unit.transaction() as tx:
            stored = await connector_or_404(tx, connector_id)
            if not isinstance(KINDS[stored.config.kind], SyncsAccounts):
                raise Problem(409, f"A {stored.config.kind} connector has no accounts to sync.")
            if plan_of(stored.config) is None:
                raise Problem(
                    409,
                    f"Connector {connector_id!r} does not sync accounts: it is inactive or "
                    "settings.sync_accounts is off (PUT the connector with "
                    '"sync_accounts": true).',
                )
            now = tx.now()
            current = await status_of(tx, stored.config, now)
            if current.running:
                raise Problem(409, f"Connector {connector_id!r}'s account sync is running.")
            await repository.account_syncs.request_sync(
                tx, connector_id, now, full=bool(body and body.full)
            )
            if syncs is not None:
                tx.after_commit(syncs.wake)
            return await status_of(tx, stored.config, now)

    @router.post(
        "/connectors/{connector_id}/webhooks",
        response_model=InboundOut,
        openapi_extra=declared_body(
            {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {
                                "type": "array",
                                "items": {"type": "object"},
                                "description": "HubSpot: its webhook's array of events",
                            },
                            schema_ref(ActivitiesWebhook),
                        ]
                    },
                    "examples": {
                        "a call logged in HubSpot": {"value": WEBHOOK_EXAMPLE},
                        "a dialer's call (kind webhook, Standard Webhooks signed)": {
                            "value": ActivitiesWebhook.model_json_schema()["examples"][0]
                        },
                    },
                }
            },
            description="The vendor's webhook, as it posts it: HubSpot's array of events, "
            "Salesforce's array of Task and Event records (as Apex's JSON.serialize writes "
            "them), or the generic activity webhook's activities (kind webhook; "
            "docs/integrations.md)",
            models=[ActivitiesWebhook],
        ),
    )
    async def vendor_webhook(connector_id: ConnectorId, request: Request) -> InboundOut:
        """Activities reps logged in their CRM (HubSpot: calls and emails; Salesforce:
        Tasks and Events) or their dialer or sequencer (kind `webhook`: Standard Webhooks
        signed, `webhook-id`, `webhook-timestamp`, `webhook-signature`), authenticated by
        the vendor's signature. Each is logged like `POST /router/v1/leads/{id}/
        activities`, once per activity id; one that matches no lead or rep is refused (422)
        with the reason, while the others are logged. A bad or stale signature is a 401, a
        body that is not the vendor's webhook a 400 naming the field."""
        body = await request.body()
        received_at = unit.clock.now()
        async with unit.read() as conn:
            config = await router_.routing.current(conn)
        connector: ConnectorConfig | None = next(
            (c for c in config.connectors if c.id == connector_id), None
        )
        kind = KINDS.get(connector.kind) if connector else None
        if connector is None or not isinstance(kind, TakesActivities):
            raise Problem(404, f"There is no active connector {connector_id!r} taking webhooks.")
        target = open_target(connector, box, config.reps)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            kind.verify(request.method, str(request.url), headers, body, received_at, target)
        except Unauthorized as exc:
            metrics.CONNECTOR_ACTIVITIES.labels(connector.id, connector.kind, "unauthorized").inc()
            raise Problem(401, f"The webhook was refused: {exc}.") from None
        base = kind.api_base_url(target.settings)
        if base and not settings.allow_private_webhook_urls:
            try:
                await check_public(base)
            except PrivateAddress as exc:
                raise Problem(
                    503,
                    f"{connector.kind}'s API at settings.{kind.api_base_setting} cannot be "
                    f"called: {exc} "
                    "(LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS is off); nothing was logged.",
                ) from None
        try:
            events = await kind.read(body, target, worker.http())
        except BadWebhook as exc:
            raise Problem(
                400,
                f"The body is not what a {connector.kind} connector takes: {exc.message}.",
                errors=[field_error(exc.field or "body", exc.message)],
            ) from None
        except (VendorError, httpx.HTTPError) as exc:
            raise Problem(
                503,
                f"{connector.kind}'s API could not be asked about the webhook's activities "
                f"({exc}); nothing was logged, and the webhook can be sent again.",
            ) from None
        results: list[InboundResult] = []
        refused: list[dict[str, str]] = []
        traceparent = request.headers.get("traceparent")
        for event in events:
            if event.activity is None:
                results.append(
                    InboundResult(
                        index=event.index,
                        event_id=event.event_id,
                        outcome="ignored",
                        reason=event.ignored,
                    )
                )
                outcome = "ignored"
            else:
                try:
                    result = await take_in(
                        unit,
                        router_,
                        config,
                        connector,
                        event.index,
                        event.event_id,
                        event.activity,
                        traceparent,
                    )
                except Refusal as exc:
                    refused.append(field_error(kind.refused_field(event.index), exc.message))
                    outcome = "refused"
                else:
                    results.append(result)
                    outcome = result.outcome
            metrics.CONNECTOR_ACTIVITIES.labels(connector.id, connector.kind, outcome).inc()
        if refused:
            logged = sum(1 for r in results if r.outcome == "logged")
            raise Problem(
                422,
                f"{len(refused)} of {len(events)} events were refused "
                f"({'; '.join(e['message'] for e in refused)}); {logged} were logged.",
                errors=refused,
            )
        return InboundOut(results=results)

    return router
