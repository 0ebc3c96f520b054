"""Issue 16's Done-when, all three connectors at once, on both runtimes: a lead posted to
ingest and assigned shows up in the fake HubSpot (a contact owned by the rep, with the note
saying why) and the fake Salesforce (a Lead owned by the rep's user, with the explanation),
and the rep hears of it in the fake Slack; each connector's delivery is its own, so one
vendor's outage holds up neither routing nor the other two."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from starlette.types import ASGIApp

from services.clock import ManualClock
from tests.backends import ADMIN, Backend, eventually
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.slack import FakeSlack
from tests.integration.test_hubspot_connector import connector_worker
from tests.integration.test_router_flow import add_rep, assigned

ANA_SF = "005000000000101AAA"


async def put_connector(backend: Backend, connector_id: str, body: dict[str, Any]) -> None:
    response = await backend.client("router").put(
        f"/router/v1/connectors/{connector_id}", json=body, headers=ADMIN
    )
    assert response.status_code == 201, response.text


async def statuses(backend: Backend, connector_id: str, lead_id: str) -> list[str]:
    response = await backend.client("router").get(
        f"/router/v1/connectors/{connector_id}/deliveries", headers=ADMIN
    )
    assert response.status_code == 200, response.text
    return sorted(d["status"] for d in response.json() if d["lead_id"] == lead_id)


async def test_an_assigned_lead_reaches_hubspot_salesforce_and_slack(
    routed: tuple[Backend, ManualClock], serve_api: Callable[[ASGIApp], str]
) -> None:
    backend, clock = routed
    hubspot = FakeHubSpot(
        token=f"pat-na1-{secrets.token_hex(16)}",
        client_secret=secrets.token_hex(16),
        owners={"101"},
    )
    salesforce = FakeSalesforce(
        client_id=f"3MVG9{secrets.token_hex(16)}",
        client_secret=secrets.token_hex(16),
        users={ANA_SF},
        custom_fields={"Leadfarm_Why__c"},
    )
    slack = FakeSlack(token=f"xoxb-1-2-{secrets.token_hex(12)}", members={"U0ANA"})
    hubspot_url, slack_url = serve_api(hubspot.app()), serve_api(slack.app())
    salesforce.base = salesforce.audience = serve_api(salesforce.app())
    salesforce.fail_next(503)  # Salesforce is down for the first try: nobody waits for it

    await put_connector(
        backend,
        "hs",
        {
            "kind": "hubspot",
            "settings": {"api_base_url": hubspot_url},
            "credentials": {"access_token": hubspot.token},
        },
    )
    await put_connector(
        backend,
        "sf",
        {
            "kind": "salesforce",
            "settings": {"login_url": salesforce.base},
            "credentials": {
                "client_id": salesforce.client_id,
                "client_secret": salesforce.client_secret,
            },
        },
    )
    await put_connector(
        backend,
        "slack",
        {
            "kind": "slack",
            "settings": {"api_base_url": f"{slack_url}/api", "hooks_base_url": slack_url},
            "credentials": {"bot_token": slack.token},
        },
    )
    await add_rep(
        backend,
        "ana",
        crm_owner_ids={"hubspot": "101", "salesforce": ANA_SF, "slack": "U0ANA"},
        time_zone="Europe/Berlin",
    )

    lead_id, rep_id = await assigned(backend, 1)
    assert rep_id == "ana"

    async def in_hubspot_and_slack() -> tuple[dict[str, Any], str] | None:
        contact = hubspot.contact_by_email("buyer1@acme.example")
        messages = slack.messages("U0ANA")
        if contact and hubspot.notes_of(contact["id"]) and messages:
            return contact, messages[0].everything
        return None

    contact, message = await eventually(in_hubspot_and_slack, timeout=30)
    assert contact["properties"]["hubspot_owner_id"] == "101"
    (note,) = hubspot.notes_of(contact["id"])
    assert "Why this rep" in note["properties"]["hs_note_body"]
    assert "Acme GmbH" in message
    assert "CET" in message  # the deadline in Ana's zone

    async def salesforce_was_down() -> bool:
        return await statuses(backend, "sf", lead_id) == ["pending"] and bool(
            salesforce.requests("POST", "/services/oauth2/token")
        )

    assert await eventually(salesforce_was_down)
    assert salesforce.lead_by_email("buyer1@acme.example") is None
    clock.advance(timedelta(seconds=5))  # the first retry is due
    connector_worker(backend).wake()

    async def in_salesforce() -> dict[str, Any] | None:
        return salesforce.lead_by_email("buyer1@acme.example")

    lead = await eventually(in_salesforce, timeout=30)
    assert lead["OwnerId"] == ANA_SF
    assert lead["Leadfarm_Why__c"].startswith("Assigned to Ana by Leadfarm: ")
    for connector_id in ("hs", "sf", "slack"):

        async def delivered(connector_id: str = connector_id) -> bool:
            return "delivered" in await statuses(backend, connector_id, lead_id)

        assert await eventually(delivered, timeout=30)
