"""The HubSpot connector's own decisions, against httpx's mock transport: which answers are
retried and which are dead at once (with HubSpot's message), and how calls and emails
become Leadfarm activities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from router.connectors.base import ConnectorConfig, Delivery, Target, VendorError
from router.connectors.hubspot import CONNECTOR, HubSpotCredentials, HubSpotSettings
from router.records import RepRecord, parsed

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ERROR = {
    "status": "error",
    "message": "Property values were not valid",
    "correlationId": "c0ffee",
    "category": "VALIDATION_ERROR",
}


def target(**settings: Any) -> Target:
    rep = parsed(
        RepRecord,
        {
            "id": "ana",
            "name": "Ana",
            "email": "ana@example.com",
            "weight": 1,
            "active": True,
            "created_at": NOW,
            "time_zone": "UTC",
            "working_hours": {},
            "languages": [],
            "territories": [],
            "max_open_leads": None,
            "daily_cap": None,
            "out_of_office": [],
            "team_id": None,
            "crm_owner_ids": {"hubspot": "101"},
        },
    )
    return Target(
        connector=ConnectorConfig("hs", "hubspot", settings, "sealed", True),
        settings=HubSpotSettings.model_validate(settings),
        credentials=HubSpotCredentials(access_token="pat-na1-test-token"),
        reps={"ana": rep},
    )


def delivery(lead: dict[str, Any], rep_id: str = "ana") -> Delivery:
    payload: dict[str, Any] = {
        "type": "leadfarm.lead.assigned.v1",
        "timestamp": "2026-01-05T09:00:00Z",
        "subject": "lead-1",
        "data": {"lead_id": "lead-1", "rep_id": rep_id, "why": "its turn", "lead": lead},
    }
    return Delivery(
        "d1", "hs", "e1", payload["type"], "lead-1", orjson.dumps(payload).decode(), 0, NOW
    )


def answering(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


@pytest.mark.parametrize(
    ("status", "permanent"), [(400, True), (422, True), (401, False), (403, False), (503, False)]
)
async def test_an_answer_no_retry_can_fix_is_dead_at_once_the_others_are_retried(
    status: int, permanent: bool
) -> None:
    with pytest.raises(VendorError) as raised:
        await CONNECTOR.deliver(
            delivery({"email": "a@b.example"}), target(), answering(status, ERROR)
        )
    assert raised.value.permanent is permanent
    assert raised.value.status == status
    assert "Property values were not valid" in raised.value.message
    assert "correlationId c0ffee" in raised.value.message


async def test_a_rate_limit_says_when_to_come_back() -> None:
    with pytest.raises(VendorError) as raised:
        await CONNECTOR.deliver(
            delivery({"email": "a@b.example"}),
            target(),
            answering(429, {"message": "limit"}, {"retry-after": "10"}),
        )
    assert (raised.value.permanent, raised.value.retry_after_s) == (False, 10.0)


async def test_a_lead_without_email_or_a_rep_without_an_owner_id_is_dead_with_the_reason() -> None:
    never = answering(500, {})
    with pytest.raises(VendorError, match="has no email") as no_email:
        await CONNECTOR.deliver(delivery({"phone": "+4930"}), target(), never)
    assert no_email.value.permanent
    with pytest.raises(VendorError, match="no HubSpot owner id") as no_owner:
        await CONNECTOR.deliver(delivery({"email": "a@b.example"}, rep_id="bo"), target(), never)
    assert no_owner.value.permanent


def webhook(*events: dict[str, Any]) -> bytes:
    return orjson.dumps(list(events))


def hubspot_api(objects: dict[str, dict[str, Any]]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        found = objects.get(request.url.path)
        return httpx.Response(200, json=found) if found else httpx.Response(404, json=ERROR)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def call(disposition: str) -> dict[str, Any]:
    return {
        "id": "9",
        "properties": {"hs_call_disposition": disposition, "hubspot_owner_id": "101"},
        "associations": {"contacts": {"results": [{"id": "5", "type": "call_to_contact"}]}},
    }


@pytest.mark.parametrize(
    ("disposition", "settings", "outcome"),
    [
        ("f240bbac-87c9-4f6e-bf70-924b57d47db7", {}, "connected"),
        ("73a0d17f-1163-4015-bdd5-ec830791da20", {}, "no_answer"),
        ("b2cf5968-551e-4856-9783-52b3da59a7d0", {}, "voicemail"),
        ("17b47fee-58de-441e-a44c-c6300d46f273", {}, "bad_number"),
        ("my-own-outcome", {}, "other"),
        (
            "my-own-outcome",
            {"call_outcomes": {"my-own-outcome": "meeting_booked"}},
            "meeting_booked",
        ),
    ],
)
async def test_a_calls_outcome_is_hubspots_disposition(
    disposition: str, settings: dict[str, Any], outcome: str
) -> None:
    api = hubspot_api(
        {
            "/crm/v3/objects/calls/9": call(disposition),
            "/crm/v3/objects/contacts/5": {"id": "5", "properties": {"email": "A@B.example"}},
        }
    )
    event = {
        "eventId": 1,
        "subscriptionType": "object.creation",
        "objectTypeId": "0-48",
        "objectId": 9,
    }
    (read,) = await CONNECTOR.read(webhook(event), target(**settings), api)
    assert read.activity is not None
    assert (read.activity.channel, read.activity.outcome) == ("call", outcome)
    assert read.activity.external_id == "call:9"
    assert read.activity.owner_id == "101"
    assert (read.activity.record_ids, read.activity.emails) == (("5",), ("a@b.example",))


async def test_emails_sent_and_replies_and_deleted_objects() -> None:
    api = hubspot_api(
        {
            "/crm/v3/objects/emails/7": {
                "id": "7",
                "properties": {"hs_email_direction": "INCOMING_EMAIL", "hubspot_owner_id": "101"},
                "associations": {"contacts": {"results": []}},
            },
        }
    )
    events = webhook(
        {
            "eventId": 1,
            "subscriptionType": "object.creation",
            "objectTypeId": "0-49",
            "objectId": 7,
        },
        {
            "eventId": 2,
            "subscriptionType": "object.creation",
            "objectTypeId": "0-48",
            "objectId": 8,
        },
        {"eventId": 3, "subscriptionType": "contact.creation", "objectId": 5},
    )
    reply, deleted, other = await CONNECTOR.read(events, target(), api)
    assert reply.activity is not None
    assert (reply.activity.channel, reply.activity.outcome) == ("email", "replied")
    assert deleted.activity is None
    assert deleted.ignored is not None
    assert "deleted" in deleted.ignored
    assert other.activity is None


async def test_companies_become_accounts_with_their_domains_as_routing_takes_them() -> None:
    asked: list[Any] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(orjson.loads(request.content))
        return httpx.Response(
            200,
            json={
                "total": 3,
                "results": [
                    {
                        "id": "7",
                        "properties": {
                            "domain": "HTTPS://www.Acme.example:443/de?x=1",
                            "name": "Acme",
                            "hubspot_owner_id": "101",
                            "hs_lastmodifieddate": "2026-01-05T09:00:00.250Z",
                        },
                    },
                    {"id": "8", "properties": {"domain": None, "hs_lastmodifieddate": None}},
                ],
                "paging": {"next": {"after": "9900"}},
            },
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    page = await CONNECTOR.accounts("1767603500000/9800", target(), http)
    assert asked[0]["after"] == "9800"
    assert asked[0]["filterGroups"][0]["filters"][0]["value"] == "1767603500000"
    acme, blank = page.accounts
    assert (acme.external_id, acme.domain, acme.owner_id, acme.name) == (
        "7",
        "acme.example",
        "101",
        "Acme",
    )
    assert (blank.domain, blank.owner_id) == ("", None)
    # Past HubSpot's 10,000 results, the next page starts from the last company's change
    # (a millisecond before it: a company changed in the same millisecond is read again).
    assert page.next_cursor == str(1767603600250 - 1)
    with pytest.raises(VendorError, match="full sync") as bad:
        await CONNECTOR.accounts("yesterday", target(), http)
    assert bad.value.permanent
