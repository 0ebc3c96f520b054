"""The connectors' HTTP API under /router/v1: configuration (admin key), their deliveries
(manager key), and the vendors' webhooks (the vendor's signature, no key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from router.connectors import KINDS
from router.connectors.accounts import AccountSyncWorker
from router.connectors.base import TakesActivities
from router.connectors.connectors import Connectors
from router.connectors.generic import ActivitiesWebhook
from router.connectors.inbound import Inbound
from router.connectors.records import DeliveryStatus, StoredConnector
from router.connectors.schemas import (
    AccountSyncIn,
    AccountSyncOut,
    ConnectorDeliveryOut,
    ConnectorIn,
    ConnectorOut,
    InboundOut,
)
from router.connectors.worker import ConnectorWorker
from router.schemas.common import ID_PATTERN
from router.service import Router
from services.auth import AdminKey, ManagerKey
from services.binding import Binding
from services.crypto import SecretBox
from services.db import UnitOfWork
from services.openapi import declared_body, schema_ref

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


@dataclass(frozen=True)
class ConnectorDeps:
    """What the connectors' routes use: the router's unit of work, the connectors managers
    configure (with their deliveries and account syncs) and the vendors' webhooks."""

    unit: UnitOfWork
    connectors: Connectors
    inbound: Inbound


bound = Binding[ConnectorDeps]("router_connectors")
Deps = Annotated[ConnectorDeps, Depends(bound)]

routes = APIRouter()


def build_connectors_router(
    unit: UnitOfWork,
    router_: Router,
    worker: ConnectorWorker,
    box: SecretBox,
    syncs: AccountSyncWorker | None = None,
) -> APIRouter:
    """The connectors' routes (included in the /router/v1 router) with what they use."""
    connectors = Connectors(router_.settings, box, worker, syncs)
    deps = ConnectorDeps(unit, connectors, Inbound(unit, router_, worker, box))
    router = APIRouter(dependencies=[bound.to(deps)])
    router.include_router(routes)
    return router


def _out(deps: ConnectorDeps, stored: StoredConnector) -> ConnectorOut:
    c = stored.config
    return ConnectorOut(
        id=c.id,
        kind=c.kind,
        settings=dict(c.settings),
        credentials={name: "set" for name in deps.connectors.credential_names(stored)},
        active=c.active,
        webhook_url_path=webhook_path(c.id) if isinstance(KINDS[c.kind], TakesActivities) else None,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
    )


@routes.put(
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
    deps: Deps, connector_id: ConnectorId, body: ConnectorIn, response: Response, _: AdminKey
) -> ConnectorOut:
    """Create or replace a connector. Credentials are sealed at rest and never shown
    again; left out on a replace, the stored ones are kept (given, each one given
    replaces the stored one of that name)."""
    async with deps.unit.read() as conn:
        checked = await deps.connectors.checked(
            conn, connector_id, body.kind, body.settings, body.credentials, body.active
        )
    await deps.connectors.refuse_private(checked)
    async with deps.unit.transaction() as tx:
        saved, created = await deps.connectors.put(tx, connector_id, checked)
    if created:
        response.status_code = 201
    return _out(deps, saved)


@routes.get("/connectors", response_model=list[ConnectorOut])
async def list_connectors(deps: Deps, _: AdminKey) -> list[ConnectorOut]:
    async with deps.unit.read() as conn:
        found = await deps.connectors.all(conn)
    return [_out(deps, c) for c in found]


@routes.get("/connectors/{connector_id}", response_model=ConnectorOut)
async def get_connector(deps: Deps, connector_id: ConnectorId, _: AdminKey) -> ConnectorOut:
    async with deps.unit.read() as conn:
        found = await deps.connectors.get(conn, connector_id)
    return _out(deps, found)


@routes.delete("/connectors/{connector_id}", status_code=204)
async def delete_connector(deps: Deps, connector_id: ConnectorId, _: AdminKey) -> None:
    """Remove a connector, its deliveries and what it remembers of the vendor's records."""
    async with deps.unit.transaction() as tx:
        await deps.connectors.delete(tx, connector_id)


@routes.get("/connectors/{connector_id}/deliveries", response_model=list[ConnectorDeliveryOut])
async def list_deliveries(
    deps: Deps,
    connector_id: ConnectorId,
    _: ManagerKey,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ConnectorDeliveryOut]:
    """A connector's deliveries, newest first; `status=dead` lists those given up,
    each with the vendor's answer."""
    async with deps.unit.read() as conn:
        found = await deps.connectors.deliveries(conn, connector_id, status, limit)
    return [ConnectorDeliveryOut.of(d) for d in found]


@routes.post(
    "/connectors/{connector_id}/deliveries/{delivery_id}/retry",
    response_model=ConnectorDeliveryOut,
)
async def retry_delivery(
    deps: Deps, connector_id: ConnectorId, delivery_id: str, _: ManagerKey
) -> ConnectorDeliveryOut:
    """Try a dead (or pending) delivery again now, with a fresh retry window."""
    async with deps.unit.transaction() as tx:
        delivery = await deps.connectors.retry(tx, connector_id, delivery_id)
    return ConnectorDeliveryOut.of(delivery)


@routes.get("/connectors/{connector_id}/accounts-sync", response_model=AccountSyncOut)
async def get_accounts_sync(deps: Deps, connector_id: ConnectorId, _: ManagerKey) -> AccountSyncOut:
    """The connector's account sync (docs/integrations.md, "Account owners from the
    CRM"): the last run, the cursor, what it counted, the CRM owners that match no rep
    and the vendor's last error."""
    async with deps.unit.read() as conn:
        status = await deps.connectors.account_sync(conn, connector_id, deps.unit.clock.now())
    return AccountSyncOut.of(status)


@routes.post(
    "/connectors/{connector_id}/accounts-sync",
    response_model=AccountSyncOut,
    status_code=202,
)
async def run_accounts_sync(
    deps: Deps, connector_id: ConnectorId, _: AdminKey, body: AccountSyncIn | None = None
) -> AccountSyncOut:
    """Run the account sync now (`full`: from the first account, not the cursor); the
    answer is the status as it starts (202): `GET` it to see the run end."""
    async with deps.unit.transaction() as tx:
        status = await deps.connectors.request_account_sync(
            tx, connector_id, full=bool(body and body.full)
        )
    return AccountSyncOut.of(status)


@routes.post(
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
async def vendor_webhook(deps: Deps, connector_id: ConnectorId, request: Request) -> InboundOut:
    """Activities reps logged in their CRM (HubSpot: calls and emails; Salesforce:
    Tasks and Events) or their dialer or sequencer (kind `webhook`: Standard Webhooks
    signed, `webhook-id`, `webhook-timestamp`, `webhook-signature`), authenticated by
    the vendor's signature. Each is logged like `POST /router/v1/leads/{id}/
    activities`, once per activity id; one that matches no lead or rep is refused (422)
    with the reason, while the others are logged. A bad or stale signature is a 401, a
    body that is not the vendor's webhook a 400 naming the field."""
    body = await request.body()
    results = await deps.inbound.webhook(
        connector_id,
        request.method,
        str(request.url),
        {k.lower(): v for k, v in request.headers.items()},
        body,
        deps.unit.clock.now(),
        request.headers.get("traceparent"),
    )
    return InboundOut(results=results)
