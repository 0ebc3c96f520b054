"""The HubSpot connector on both runtimes, against a local fake of HubSpot's API that checks
each request as HubSpot documents it (tests/fakes/hubspot.py): a lead posted to ingest and
assigned shows up in HubSpot with the rep as its owner and a note saying why; a call the
rep logs in HubSpot arrives as a signed webhook and stops the first-touch clock, once; an
outage is retried and then dead with HubSpot's error, while routing never waits; bad
configuration and bad webhooks are problems naming the field; the token is never shown."""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from starlette.types import ASGIApp

from router.connectors.worker import ConnectorWorker
from router.models import connector_deliveries, connectors, crm_records
from services.clock import ManualClock
from tests.backends import ADMIN, Backend, EmbeddedBackend, eventually
from tests.fakes.hubspot import CONNECTED, FakeHubSpot
from tests.integration.test_router_flow import add_rep, assigned, fire

HOOK = "http://lf/router/v1/connectors/hs/webhooks"


@pytest.fixture
def hubspot(serve_api: Callable[[ASGIApp], str]) -> tuple[FakeHubSpot, str]:
    fake = FakeHubSpot(
        token=f"pat-na1-{secrets.token_hex(16)}",
        client_secret=secrets.token_hex(16),
        owners={"101", "102"},
    )
    return fake, serve_api(fake.app())


async def connect(backend: Backend, fake: FakeHubSpot, base: str, **settings: Any) -> Any:
    response = await backend.client("router").put(
        "/router/v1/connectors/hs",
        json={
            "kind": "hubspot",
            "settings": {"api_base_url": base, **settings},
            "credentials": {"access_token": fake.token, "client_secret": fake.client_secret},
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    assert fake.token not in response.text
    assert fake.client_secret not in response.text
    return response.json()


def connector_worker(backend: Backend) -> ConnectorWorker:
    runtime = backend.runtimes["router"]
    return next(
        w
        for spec in runtime.specs
        if spec.name == "router"
        for w in spec.workers
        if isinstance(w, ConnectorWorker)
    )


async def deliveries(backend: Backend, lead_id: str) -> list[dict[str, Any]]:
    response = await backend.client("router").get(
        "/router/v1/connectors/hs/deliveries", headers=ADMIN
    )
    assert response.status_code == 200, response.text
    return [d for d in response.json() if d["lead_id"] == lead_id]


async def post_webhook(backend: Backend, body: bytes, headers: dict[str, str]) -> Any:
    return await backend.client("router").post(
        "/router/v1/connectors/hs/webhooks", content=body, headers=headers
    )


async def test_an_assigned_lead_is_in_hubspot_and_a_call_logged_there_stops_the_clock(
    routed: tuple[Backend, ManualClock],
    hubspot: tuple[FakeHubSpot, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    backend, clock = routed
    fake, base = hubspot
    router = backend.client("router")
    answer = await connect(backend, fake, base)
    assert answer["credentials"] == {"access_token": "set", "client_secret": "set"}
    assert answer["webhook_url_path"] == "/router/v1/connectors/hs/webhooks"
    ana = await add_rep(backend, "ana", crm_owner_ids={"hubspot": "101"})
    rep = await router.get("/router/v1/reps/ana", headers=ADMIN)
    assert rep.json()["crm_owner_ids"] == {"hubspot": "101"}

    lead_id, rep_id = await assigned(backend, 1)
    assert rep_id == "ana"

    async def written() -> dict[str, Any] | None:
        contact = fake.contact_by_email("buyer1@acme.example")
        return contact if contact and fake.notes_of(contact["id"]) else None

    contact = await eventually(written)
    assert contact["properties"]["hubspot_owner_id"] == "101"
    (upsert,) = fake.requests("POST", "/crm/v3/objects/contacts/batch/upsert")
    assert upsert.headers["authorization"] == f"Bearer {fake.token}"
    assert upsert.headers["content-type"] == "application/json"
    assert upsert.body == {
        "inputs": [
            {
                "idProperty": "email",
                "id": "buyer1@acme.example",
                "properties": {
                    "email": "buyer1@acme.example",
                    "firstname": "Dana",
                    "lastname": "Lee",
                    "phone": "+49305550001",
                    "company": "Acme GmbH",
                    "country": "DE",
                    "hubspot_owner_id": "101",
                },
            }
        ]
    }
    (note,) = fake.notes_of(contact["id"])
    body = note["properties"]["hs_note_body"]
    assert "Assigned to Ana" in body
    assert "Why this rep" in body
    assert "Acme GmbH" in body
    events = await backend.timeline_with(lead_id, "leadfarm.lead.assigned.v1")
    why = next(e for e in events if e["type"] == "leadfarm.lead.assigned.v1")["data"]["why"]
    assert f"<strong>Why this rep:</strong> {html.escape(why)}</p>" in body
    assert note["properties"]["hubspot_owner_id"] == "101"
    (note_request,) = fake.requests("POST", "/crm/v3/objects/notes")
    assert note_request.body["associations"] == [
        {
            "to": {"id": contact["id"]},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
        }
    ]

    async def delivered() -> list[dict[str, Any]] | None:
        found = await deliveries(backend, lead_id)
        return found if [d["status"] for d in found] == ["delivered"] else None

    await eventually(delivered)

    # Ana calls from HubSpot; HubSpot's webhook names the call, Leadfarm fetches it.
    call_id = fake.log_activity(
        "calls", contact["id"], "101", {"hs_call_disposition": CONNECTED, "hs_timestamp": "x"}
    )
    clock.advance(timedelta(minutes=2))
    hook_body, headers = fake.webhook(HOOK, "calls", call_id, clock.now())
    response = await post_webhook(backend, hook_body, headers)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert (result["outcome"], result["lead_id"]) == ("logged", lead_id)
    (fetched,) = fake.requests("GET", f"/crm/v3/objects/calls/{call_id}")
    assert fetched.query["associations"] == "contacts"

    view = (await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ana)).json()
    assert view["first_touch"] == "met"
    assert view["touched_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert view["cadence"]["status"] == "connected"

    # HubSpot sends it again (a retry): one call, counted once.
    again = await post_webhook(backend, hook_body, headers)
    assert again.status_code == 200, again.text
    assert again.json()["results"][0]["outcome"] == "duplicate"
    events = await backend.timeline_with(lead_id, "leadfarm.contact.logged.v1")
    assert [e["type"] for e in events].count("leadfarm.contact.logged.v1") == 1

    # The deadline passes: no breach, the clock was stopped.
    clock.advance(timedelta(hours=1))
    await fire(backend)
    view = (await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ana)).json()
    assert (view["rep_id"], view["first_touch"]) == ("ana", "met")

    # Nothing shows or logs the credentials; the row holds them sealed.
    listed = await router.get("/router/v1/connectors", headers=ADMIN)
    assert fake.token not in listed.text
    assert fake.client_secret not in listed.text
    async with backend.runtimes["router"].units["router"].read() as conn:
        stored = str(await conn.scalar(select(connectors.c.credentials)))
    assert stored.startswith("fernet:")
    assert fake.token not in stored
    assert fake.token not in caplog.text
    assert fake.client_secret not in caplog.text


async def test_a_hubspot_outage_is_retried_then_dead_and_routing_never_waits(
    routed: tuple[Backend, ManualClock],
    hubspot: tuple[FakeHubSpot, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    backend, clock = routed
    fake, base = hubspot
    router = backend.client("router")
    await connect(backend, fake, base, on_return="set_owner", return_owner_id="102")
    await add_rep(backend, "ana", crm_owner_ids={"hubspot": "101"})
    worker = connector_worker(backend)

    # HubSpot answers 503, then 429 (with Retry-After), then recovers.
    fake.fail_next(503)
    fake.fail_next(429, retry_after="30")
    lead_id, _rep_id = await assigned(backend, 1)  # routing did not wait for HubSpot

    async def attempted(n: int) -> list[dict[str, Any]] | None:
        found = await deliveries(backend, lead_id)
        return found if found and found[0]["attempts"] >= n else None

    (first,) = await eventually(lambda: attempted(1))
    assert (first["status"], first["last_status_code"]) == ("pending", 503)
    assert "HubSpot answered 503" in first["last_error"]
    assert "Service unavailable" in first["last_error"]
    clock.advance(timedelta(seconds=5))
    worker.wake()
    (second,) = await eventually(lambda: attempted(2))
    assert (second["status"], second["last_status_code"]) == ("pending", 429)
    # Retry-After asked for 30 s, more than the 10 s backoff.
    assert second["next_attempt_at"] == (clock.now() + timedelta(seconds=30)).isoformat().replace(
        "+00:00", "Z"
    )
    clock.advance(timedelta(seconds=30))
    worker.wake()
    (third,) = await eventually(lambda: attempted(3))
    assert third["status"] == "delivered", third
    contact = fake.contact_by_email("buyer1@acme.example")
    assert contact is not None
    assert contact["properties"]["hubspot_owner_id"] == "101"

    # One that never recovers: retried for the window, then dead with HubSpot's answer.
    fake.fail_next(503, times=1000)
    lost, _ = await assigned(backend, 2)
    await eventually(lambda: _attempts(backend, lost, 1))
    clock.advance(timedelta(hours=25))
    worker.wake()

    async def dead() -> dict[str, Any] | None:
        found = await deliveries(backend, lost)
        return found[0] if found and found[0]["status"] == "dead" else None

    gone = await eventually(dead)
    assert gone["last_status_code"] == 503
    assert "Service unavailable" in gone["last_error"]
    listed = await router.get("/router/v1/connectors/hs/deliveries?status=dead", headers=ADMIN)
    assert [d["id"] for d in listed.json()] == [gone["id"]]
    assert (await router.get(f"/router/v1/leads/{lost}/assignment", headers=ADMIN)).json()[
        "rep_id"
    ] == "ana"

    # HubSpot is back and a manager retries it: delivered.
    with fake._lock:
        fake.failures.clear()
    retried = await router.post(
        f"/router/v1/connectors/hs/deliveries/{gone['id']}/retry", headers=ADMIN
    )
    assert retried.status_code == 200, retried.text

    async def redelivered() -> bool:
        found = await deliveries(backend, lost)
        return bool(found[0]["status"] == "delivered")

    await eventually(redelivered)

    # Returned to marketing: the owner becomes marketing's (on_return set_owner).
    rejected = await router.post(
        f"/router/v1/leads/{lead_id}/reject",
        json={"reason": "not our market", "disposition": "return"},
        headers=ADMIN,
    )
    assert rejected.status_code == 200, rejected.text

    async def handed_back() -> bool:
        found = fake.contact_by_email("buyer1@acme.example")
        return found is not None and found["properties"]["hubspot_owner_id"] == "102"

    await eventually(handed_back)
    assert fake.token not in caplog.text


async def _attempts(backend: Backend, lead_id: str, n: int) -> bool:
    found = await deliveries(backend, lead_id)
    return bool(found) and found[0]["attempts"] >= n


async def test_bad_connector_configuration_and_bad_webhooks_are_problems_naming_the_field(
    routed: tuple[Backend, ManualClock], hubspot: tuple[FakeHubSpot, str]
) -> None:
    backend, clock = routed
    fake, base = hubspot
    router = backend.client("router")

    async def refused(body: dict[str, Any], status: int = 422) -> list[str]:
        response = await router.put("/router/v1/connectors/hs", json=body, headers=ADMIN)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "s3cr3t-token-value" not in response.text
        return [e["field"] for e in response.json().get("errors", [])]

    good = {"access_token": "s3cr3t-token-value"}
    assert await refused({"kind": "hubspot", "settings": {"api_base_url": base}}) == ["credentials"]
    assert await refused({"kind": "pipedrive", "credentials": good}) == ["kind"]
    assert await refused(
        {"kind": "hubspot", "settings": {"on_return": "set_owner"}, "credentials": good}
    ) == ["settings"]
    assert await refused(
        {"kind": "hubspot", "settings": {"colour": "red"}, "credentials": good}
    ) == ["settings.colour"]
    assert await refused({"kind": "hubspot", "credentials": {"access_token": "short"}}) == [
        "credentials.access_token"
    ]
    assert await refused(
        {"kind": "hubspot", "credentials": {**good, "password": "s3cr3t-token-value"}}
    ) == ["credentials.password"]
    bad_rep = await router.post(
        "/router/v1/reps",
        json={"id": "x", "name": "X", "email": "x@example.com", "crm_owner_ids": {"crm": "1"}},
        headers=ADMIN,
    )
    assert bad_rep.status_code == 422
    (error,) = bad_rep.json()["errors"]
    assert error["field"].startswith("crm_owner_ids.crm"), error

    await connect(backend, fake, base)
    await add_rep(backend, "ana", crm_owner_ids={"hubspot": "101"})
    lead_id, _ = await assigned(backend, 1)
    contact = await eventually(lambda: _contact(fake, "buyer1@acme.example"))
    now = clock.now()

    unknown = await backend.client("router").post(
        "/router/v1/connectors/nope/webhooks",
        content=b"[]",
        headers=fake.sign("POST", "x", b"[]", now),
    )
    assert unknown.status_code == 404
    call = fake.log_activity("calls", contact["id"], "101", {"hs_call_disposition": CONNECTED})
    body, headers = fake.webhook(HOOK, "calls", call, now, secret="not-the-app-secret")
    forged = await post_webhook(backend, body, headers)
    assert forged.status_code == 401
    assert "X-HubSpot-Signature-v3" in forged.json()["detail"]
    body, headers = fake.webhook(HOOK, "calls", call, now - timedelta(minutes=6))
    stale = await post_webhook(backend, body, headers)
    assert stale.status_code == 401
    assert "expired" in stale.json()["detail"]
    not_events = orjson.dumps({"objectId": 1})
    wrong = await post_webhook(backend, not_events, fake.sign("POST", HOOK, not_events, now))
    assert wrong.status_code == 400
    no_id = orjson.dumps(
        [{"eventId": 1, "subscriptionType": "object.creation", "objectTypeId": "0-48"}]
    )
    missing = await post_webhook(backend, no_id, fake.sign("POST", HOOK, no_id, now))
    assert missing.status_code == 400
    assert [e["field"] for e in missing.json()["errors"]] == ["0/objectId"]

    # A call on a contact Leadfarm has no lead for; a call by an owner who is no rep.
    stranger = fake.log_activity("calls", "999999", "101", {"hs_call_disposition": CONNECTED})
    body, headers = fake.webhook(HOOK, "calls", stranger, now)
    no_lead = await post_webhook(backend, body, headers)
    assert no_lead.status_code == 422, no_lead.text
    assert no_lead.json()["errors"][0]["field"] == "0.objectId"
    assert "matches no lead" in no_lead.json()["errors"][0]["message"]
    by_stranger = fake.log_activity(
        "calls", contact["id"], "102", {"hs_call_disposition": CONNECTED}
    )
    body, headers = fake.webhook(HOOK, "calls", by_stranger, now)
    no_rep = await post_webhook(backend, body, headers)
    assert no_rep.status_code == 422, no_rep.text
    assert "matches no rep" in no_rep.json()["errors"][0]["message"]
    view = (await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ADMIN)).json()
    assert view["first_touch"] == "pending", "nothing refused was counted"


async def _contact(fake: FakeHubSpot, email: str) -> dict[str, Any] | None:
    return fake.contact_by_email(email)


async def test_an_email_on_a_contact_leadfarm_did_not_write_finds_its_lead_by_email(
    routed: tuple[Backend, ManualClock], hubspot: tuple[FakeHubSpot, str]
) -> None:
    backend, clock = routed
    fake, base = hubspot
    router = backend.client("router")
    await connect(backend, fake, base, lead_id_property="leadfarm_lead_id")
    ana = await add_rep(backend, "ana", crm_owner_ids={"hubspot": "101"})
    patched = await router.patch(
        "/router/v1/reps/ana", json={"crm_owner_ids": {"hubspot": "102"}}, headers=ADMIN
    )
    assert patched.json()["crm_owner_ids"] == {"hubspot": "102"}

    # Written by Leadfarm: the lead id is on the contact too.
    first, _ = await assigned(backend, 1)
    written = await eventually(lambda: _contact(fake, "buyer1@acme.example"))
    assert written["properties"]["leadfarm_lead_id"] == first
    assert written["properties"]["hubspot_owner_id"] == "102"

    # A lead assigned while the connector was off, whose contact HubSpot already had.
    off = await router.put(
        "/router/v1/connectors/hs",
        json={"kind": "hubspot", "settings": {"api_base_url": base}, "active": False},
        headers=ADMIN,
    )
    assert off.status_code == 200, off.text
    assert off.json()["credentials"] == {"access_token": "set", "client_secret": "set"}
    second, _ = await assigned(backend, 2)
    on = await router.put(
        "/router/v1/connectors/hs",
        json={"kind": "hubspot", "settings": {"api_base_url": base}},
        headers=ADMIN,
    )
    assert on.status_code == 200, on.text
    contact_id = fake.add_contact("buyer2@acme.example")
    reply = fake.log_activity("emails", contact_id, "102", {"hs_email_direction": "INCOMING_EMAIL"})
    body, _ = fake.webhook(HOOK, "emails", reply, clock.now())
    # HubSpot batches events: one about something else comes with it.
    other = {"eventId": 77, "subscriptionType": "contact.creation", "objectId": 1}
    body = orjson.dumps([other, *orjson.loads(body)])
    response = await post_webhook(backend, body, fake.sign("POST", HOOK, body, clock.now()))
    assert response.status_code == 200, response.text
    ignored, result = response.json()["results"]
    assert (ignored["index"], ignored["outcome"]) == (0, "ignored")
    assert (result["index"], result["outcome"], result["lead_id"]) == (1, "logged", second)
    view = (await router.get(f"/router/v1/leads/{second}/assignment", headers=ana)).json()
    assert view["first_touch"] == "met"
    assert view["cadence"]["status"] == "connected", "the lead wrote back"
    assert await deliveries(backend, second) == [], "the connector was off when it was assigned"


async def test_an_erased_person_is_never_written_to_hubspot(
    routed: tuple[Backend, ManualClock], hubspot: tuple[FakeHubSpot, str]
) -> None:
    backend, clock = routed
    fake, base = hubspot
    await connect(backend, fake, base)
    await add_rep(backend, "ana", crm_owner_ids={"hubspot": "101"})
    written, _ = await assigned(backend, 2)
    await eventually(lambda: _contact(fake, "buyer2@acme.example"))
    fake.fail_next(503, times=1000)
    lead_id, _ = await assigned(backend, 1)
    await eventually(lambda: _attempts(backend, lead_id, 1))
    for erased in (lead_id, written):
        asked = await backend.client("audit").post(
            "/audit/v1/erasures", json={"lead_id": erased}, headers=ADMIN
        )
        assert asked.status_code == 201, asked.text

    async def given_up() -> dict[str, Any] | None:
        found = await deliveries(backend, lead_id)
        return found[0] if found[0]["status"] == "dead" else None

    gone = await eventually(given_up)
    assert gone["last_error"] == "not written: the person was erased"

    async def forgotten() -> bool:
        # The HubSpot contact id Leadfarm wrote for the person is dropped too.
        async with backend.runtimes["router"].units["router"].read() as conn:
            return await conn.scalar(select(crm_records.c.lead_id)) is None

    await eventually(forgotten)
    async with backend.runtimes["router"].units["router"].read() as conn:
        payloads = (await conn.execute(select(connector_deliveries.c.payload))).scalars().all()
    assert len(payloads) == 2
    for payload in payloads:
        assert "acme.example" not in payload
        assert "Dana" not in payload
    with fake._lock:
        fake.failures.clear()
    clock.advance(timedelta(hours=1))
    connector_worker(backend).wake()
    assert fake.contact_by_email("buyer1@acme.example") is None


async def test_connector_credentials_are_resealed_at_start_with_the_first_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, base = hubspot
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("LEADFARM_SECRETS_KEY", old)
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        await connect(backend, fake, base)
    finally:
        await backend.stop()
    monkeypatch.setenv("LEADFARM_SECRETS_KEY", f"{new},{old}")
    rotated = await EmbeddedBackend(tmp_path).start()
    try:
        async with rotated.runtime.units["router"].read() as conn:
            stored = str(await conn.scalar(select(connectors.c.credentials)))
        opened = Fernet(new.encode()).decrypt(stored.removeprefix("fernet:").encode())
        assert orjson.loads(opened)["access_token"] == fake.token
    finally:
        await rotated.stop()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("leadfarm.db*") if p.suffix != ".key")
    assert fake.token.encode() not in raw


async def test_a_connector_may_not_call_a_private_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS", "false")
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        response = await backend.client("router").put(
            "/router/v1/connectors/hs",
            json={
                "kind": "hubspot",
                "settings": {"api_base_url": "http://169.254.169.254"},
                "credentials": {"access_token": "pat-na1-0123456789"},
            },
            headers=ADMIN,
        )
    finally:
        await backend.stop()
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["settings.api_base_url"]
