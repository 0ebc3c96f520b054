"""The Salesforce connector on both runtimes, against a local fake Salesforce that checks
each request as Salesforce documents it (tests/fakes/salesforce.py): a lead posted to ingest
and assigned shows up as a Lead owned by the rep's Salesforce user with the routing
explanation; four calls and two emails logged as Tasks, posted by the documented Apex's
signed webhook, exhaust the cadence and return the lead exactly as the API path does
(tests/integration/test_router_flow.py); an outage is retried and then dead with
Salesforce's error while routing never waits; bad configuration and bad webhooks are
problems naming the field."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.types import ASGIApp

from services.clock import ManualClock
from tests.backends import ADMIN, Backend, EmbeddedBackend, eventually
from tests.fakes.salesforce import FakeSalesforce
from tests.integration.test_hubspot_connector import connector_worker
from tests.integration.test_router_flow import add_rep, assigned

ANA = "005000000000101AAA"
BO = "005000000000102AAA"
MARKETING = "00G000000000001AAA"
HOOK = "/router/v1/connectors/sf/webhooks"


def whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture
def salesforce(
    serve_api: Callable[[ASGIApp], str], key_pair: tuple[str, str]
) -> tuple[FakeSalesforce, str]:
    fake = FakeSalesforce(
        client_id=f"3MVG9{secrets.token_hex(16)}",
        client_secret=secrets.token_hex(16),
        public_key=key_pair[1],
        username="leadfarm-integration@acme.example",
        users={ANA, BO, MARKETING},
        external_id_fields={"Leadfarm_Lead_Id__c"},
        custom_fields={"Leadfarm_Lead_Id__c", "Leadfarm_Why__c"},
        assignment_rule_owner="00G000000000077AAA",  # the org's lead assignment rule
    )
    fake.base = fake.audience = serve_api(fake.app())
    return fake, whsec()


async def connect(
    backend: Backend,
    fake: FakeSalesforce,
    secret: str,
    private_key: str | None = None,
    **settings: Any,
) -> Any:
    credentials = {"client_id": fake.client_id, "webhook_secret": secret}
    if private_key:
        credentials["private_key"] = private_key
        settings |= {"auth": "jwt_bearer", "username": fake.username}
    else:
        credentials["client_secret"] = fake.client_secret or ""
    response = await backend.client("router").put(
        "/router/v1/connectors/sf",
        json={
            "kind": "salesforce",
            "settings": {"login_url": fake.base, **settings},
            "credentials": credentials,
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    for value in credentials.values():
        if value != fake.client_id:
            assert value not in response.text
    return response.json()


async def deliveries(backend: Backend, lead_id: str) -> list[dict[str, Any]]:
    response = await backend.client("router").get(
        "/router/v1/connectors/sf/deliveries", headers=ADMIN
    )
    assert response.status_code == 200, response.text
    return [d for d in response.json() if d["lead_id"] == lead_id]


async def post_tasks(
    backend: Backend, records: list[dict[str, Any]], secret: str, clock: ManualClock
) -> Any:
    body, headers = FakeSalesforce.webhook(records, secret, clock.now())
    return await backend.client("router").post(HOOK, content=body, headers=headers)


async def test_an_assigned_lead_is_a_salesforce_lead_and_tasks_logged_there_exhaust_the_cadence(
    routed: tuple[Backend, ManualClock],
    salesforce: tuple[FakeSalesforce, str],
    key_pair: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    backend, clock = routed
    fake, secret = salesforce
    router = backend.client("router")
    answer = await connect(
        backend,
        fake,
        secret,
        key_pair[0],
        lead_id_field="Leadfarm_Lead_Id__c",
        on_return="set_owner",
        return_owner_id=MARKETING,
    )
    assert answer["credentials"] == {
        "client_id": "set",
        "private_key": "set",
        "webhook_secret": "set",
    }
    assert answer["webhook_url_path"] == HOOK
    ana = await add_rep(backend, "ana", crm_owner_ids={"salesforce": ANA})

    lead_id, rep_id = await assigned(backend, 1)
    assert rep_id == "ana"

    async def written() -> dict[str, Any] | None:
        return fake.lead_by_email("buyer1@acme.example")

    record = await eventually(written)
    events = await backend.timeline_with(lead_id, "leadfarm.lead.assigned.v1")
    event = next(e for e in events if e["type"] == "leadfarm.lead.assigned.v1")["data"]
    assert record["OwnerId"] == ANA
    assert record["Leadfarm_Lead_Id__c"] == lead_id
    why = record["Leadfarm_Why__c"]
    assert why.startswith(f"Assigned to Ana by Leadfarm: {event['why']} (rule {event['rule']}")
    (token,) = fake.requests("POST", "/services/oauth2/token")
    assert token.body["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    (upsert,) = fake.requests(
        "PATCH", f"/services/data/v61.0/sobjects/Lead/Leadfarm_Lead_Id__c/{lead_id}"
    )
    assert upsert.headers["authorization"].startswith("Bearer ")
    assert upsert.headers["content-type"] == "application/json"
    assert {k: upsert.body[k] for k in ("LastName", "FirstName", "Company", "Email")} == {
        "LastName": "Lee",
        "FirstName": "Dana",
        "Company": "Acme GmbH",
        "Email": "buyer1@acme.example",
    }

    async def delivered() -> bool:
        return [d["status"] for d in await deliveries(backend, lead_id)] == ["delivered"]

    await eventually(delivered)

    # Ana works the lead from Salesforce; each Task is posted by the trigger as it is saved.
    attempts = [("Call", "No Answer"), ("Email", None), ("Call", "Left Voicemail")]
    attempts += [("Call", "Wrong Number"), ("Email", None), ("Call", "Busy")]
    tasks = []
    for subtype, disposition in attempts:
        task = fake.task(record["Id"], ANA, subtype, disposition=disposition)
        tasks.append(task)
        response = await post_tasks(backend, [task], secret, clock)
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert (result["outcome"], result["lead_id"], result["event_id"]) == (
            "logged",
            lead_id,
            task["Id"],
        )
        clock.advance(timedelta(days=1))

    events = await backend.timeline_with(
        lead_id, "leadfarm.lead.returned.v1", "leadfarm.nurture.enrolled.v1"
    )
    returned = next(e for e in events if e["type"] == "leadfarm.lead.returned.v1")["data"]
    assert returned["reason_code"] == "cadence_exhausted"
    assert returned["rep_id"] == "ana"
    view = (await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ana)).json()
    assert view["status"] == "returned"
    assert view["cadence"]["status"] == "exhausted"
    assert view["cadence"]["calls"] == {"required": 4, "counted": 4, "made": 4}
    compliance = (await router.get("/router/v1/reps/ana/compliance", headers=ana)).json()
    assert compliance["obligations"] == 2
    assert compliance["compliance"] == 1.0, "first touch met, cadence completed"

    # The trigger fires again for a Task already taken: a duplicate, nothing counted twice.
    again = await post_tasks(backend, [tasks[0]], secret, clock)
    assert again.status_code == 200, again.text
    assert again.json()["results"][0]["outcome"] == "duplicate"
    # A call after the return is refused with the reason, as the API refuses it.
    late = await post_tasks(
        backend, [fake.task(record["Id"], ANA, "Call", disposition="Connected")], secret, clock
    )
    assert late.status_code == 422, late.text
    assert late.json()["errors"][0]["field"] == "0.Id"

    # Returned to marketing: the Lead goes to marketing's queue, saying why.
    async def handed_back() -> dict[str, Any] | None:
        found = fake.lead_by_email("buyer1@acme.example")
        return found if found and found["OwnerId"] == MARKETING else None

    back = await eventually(handed_back)
    assert back["Leadfarm_Why__c"].startswith("Returned to marketing by Leadfarm")
    assert key_pair[0] not in caplog.text
    assert secret not in caplog.text


async def test_a_salesforce_outage_is_retried_then_dead_and_routing_never_waits(
    routed: tuple[Backend, ManualClock], salesforce: tuple[FakeSalesforce, str]
) -> None:
    backend, clock = routed
    fake, secret = salesforce
    router = backend.client("router")
    await connect(backend, fake, secret)
    await add_rep(backend, "ana", crm_owner_ids={"salesforce": ANA})
    worker = connector_worker(backend)

    # Salesforce answers 503, then a 400 no retry can fix.
    fake.fail_next(503, code="SERVER_UNAVAILABLE", message="Server temporarily unavailable")
    fake.fail_next(400, code="STRING_TOO_LONG", message="Leadfarm Why: data value too large")
    lead_id, _ = await assigned(backend, 1)  # routing did not wait for Salesforce

    async def attempted(n: int) -> dict[str, Any] | None:
        found = await deliveries(backend, lead_id)
        return found[0] if found and found[0]["attempts"] >= n else None

    first = await eventually(lambda: attempted(1))
    assert (first["status"], first["last_status_code"]) == ("pending", 503)
    assert "SERVER_UNAVAILABLE: Server temporarily unavailable" in first["last_error"]
    view = (await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ADMIN)).json()
    assert (view["rep_id"], view["first_touch"]) == ("ana", "pending")
    clock.advance(timedelta(seconds=5))
    worker.wake()
    second = await eventually(lambda: attempted(2))
    assert (second["status"], second["last_status_code"]) == ("dead", 400)
    assert "STRING_TOO_LONG: Leadfarm Why: data value too large" in second["last_error"]
    dead = await router.get("/router/v1/connectors/sf/deliveries?status=dead", headers=ADMIN)
    assert [d["id"] for d in dead.json()] == [second["id"]]
    assert fake.lead_by_email("buyer1@acme.example") is None
    # Fixed in Salesforce, a manager retries it: the Lead is written.
    retried = await router.post(
        f"/router/v1/connectors/sf/deliveries/{second['id']}/retry", headers=ADMIN
    )
    assert retried.status_code == 200, retried.text
    await eventually(lambda: _lead(fake, "buyer1@acme.example"))


async def _lead(fake: FakeSalesforce, email: str) -> dict[str, Any] | None:
    return fake.lead_by_email(email)


async def test_bad_salesforce_configuration_and_webhooks_are_problems_naming_the_field(
    routed: tuple[Backend, ManualClock], salesforce: tuple[FakeSalesforce, str]
) -> None:
    backend, clock = routed
    fake, secret = salesforce
    router = backend.client("router")
    hidden = "s3cr3t-consumer-secret"

    async def refused(settings: dict[str, Any], credentials: dict[str, Any]) -> list[str]:
        response = await router.put(
            "/router/v1/connectors/sf",
            json={"kind": "salesforce", "settings": settings, "credentials": credentials},
            headers=ADMIN,
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert hidden not in response.text
        return [e["field"] for e in response.json()["errors"]]

    good = {"client_id": "3MVG9consumer", "client_secret": hidden}
    login = {"login_url": fake.base}
    assert await refused({}, good) == ["settings.login_url"]
    assert await refused({"login_url": "ftp://x"}, good) == ["settings.login_url"]
    assert await refused({**login, "auth": "jwt_bearer"}, good) == ["settings"]
    assert await refused({**login, "api_version": "61"}, good) == ["settings.api_version"]
    assert await refused({**login, "why_field": "bad field"}, good) == ["settings.why_field"]
    assert await refused(login, {"client_id": "3MVG9consumer"}) == ["credentials.client_secret"]
    assert await refused({**login, "auth": "jwt_bearer", "username": "u@acme.example"}, good) == [
        "credentials.private_key"
    ]
    assert await refused(login, {**good, "private_key": hidden * 10}) == ["credentials.private_key"]
    assert await refused(login, {**good, "webhook_secret": hidden}) == [
        "credentials.webhook_secret"
    ]
    bad_rep = await router.post(
        "/router/v1/reps",
        json={"id": "x", "name": "X", "email": "x@example.com", "crm_owner_ids": {"sf": "1"}},
        headers=ADMIN,
    )
    assert bad_rep.status_code == 422

    await connect(backend, fake, secret)
    await add_rep(backend, "ana", crm_owner_ids={"salesforce": ANA})
    lead_id, _ = await assigned(backend, 1)
    record = await eventually(lambda: _lead(fake, "buyer1@acme.example"))
    call = fake.task(record["Id"], ANA, "Call", disposition="Connected")

    body, headers = FakeSalesforce.webhook([call], whsec(), clock.now())
    forged = await router.post(HOOK, content=body, headers=headers)
    assert forged.status_code == 401
    assert "no v1 signature in webhook-signature matches" in forged.json()["detail"]
    body, headers = FakeSalesforce.webhook([call], secret, clock.now() - timedelta(minutes=6))
    stale = await router.post(HOOK, content=body, headers=headers)
    assert stale.status_code == 401
    assert "expired" in stale.json()["detail"]
    unsigned = await router.post(HOOK, content=body)
    assert unsigned.status_code == 401
    body, headers = FakeSalesforce.webhook([{**call, "Id": "not-an-id"}], secret, clock.now())
    wrong = await router.post(HOOK, content=body, headers=headers)
    assert wrong.status_code == 400, wrong.text
    assert [e["field"] for e in wrong.json()["errors"]] == ["0/Id"]

    # A call on a Lead Leadfarm did not write; a call by an owner who is no rep; both with
    # one that is logged, in one webhook (a trigger's bulk of Tasks).
    stranger = fake.task("00Q000000000999AAA", ANA, "Call", disposition="Connected")
    by_bo = fake.task(record["Id"], BO, "Call", disposition="Connected")
    mixed = await post_tasks(backend, [stranger, by_bo, call], secret, clock)
    assert mixed.status_code == 422, mixed.text
    errors = mixed.json()["errors"]
    assert [e["field"] for e in errors] == ["0.Id", "1.Id"]
    assert "matches no lead" in errors[0]["message"]
    assert "matches no rep" in errors[1]["message"]
    assert "1 were logged" in mixed.json()["detail"]
    view = (await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ADMIN)).json()
    assert view["first_touch"] == "met", "the good one was logged"


async def test_a_salesforce_login_url_must_be_public(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS", "false")
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        response = await backend.client("router").put(
            "/router/v1/connectors/sf",
            json={
                "kind": "salesforce",
                "settings": {"login_url": "http://169.254.169.254"},
                "credentials": {"client_id": "3MVG9consumer", "client_secret": "0123456789"},
            },
            headers=ADMIN,
        )
    finally:
        await backend.stop()
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["settings.login_url"]


async def test_a_task_on_a_lead_leadfarm_did_not_write_finds_its_lead_by_email(
    routed: tuple[Backend, ManualClock], salesforce: tuple[FakeSalesforce, str]
) -> None:
    backend, clock = routed
    fake, secret = salesforce
    router = backend.client("router")
    await connect(backend, fake, secret)
    ana = await add_rep(backend, "ana", crm_owner_ids={"salesforce": ANA})
    off = await router.put(
        "/router/v1/connectors/sf",
        json={"kind": "salesforce", "settings": {"login_url": fake.base}, "active": False},
        headers=ADMIN,
    )
    assert off.status_code == 200, off.text
    assert off.json()["credentials"] == {
        "client_id": "set",
        "client_secret": "set",
        "webhook_secret": "set",
    }
    lead_id, _ = await assigned(backend, 2)
    on = await router.put(
        "/router/v1/connectors/sf",
        json={"kind": "salesforce", "settings": {"login_url": fake.base}},
        headers=ADMIN,
    )
    assert on.status_code == 200, on.text
    # The Lead was made in Salesforce by hand; the trigger's body names only its Id.
    by_hand = fake.add_lead(LastName="Lee", Company="Acme", Email="Buyer2@Acme.example")
    response = await post_tasks(backend, [fake.task(by_hand, ANA, "Email")], secret, clock)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert (result["outcome"], result["lead_id"]) == ("logged", lead_id)
    (asked,) = fake.requests("GET", f"/services/data/v61.0/sobjects/Lead/{by_hand}")
    assert asked.query == {"fields": "Id,Email"}
    view = (await router.get(f"/router/v1/leads/{lead_id}/assignment", headers=ana)).json()
    assert view["first_touch"] == "met"
    assert await deliveries(backend, lead_id) == [], "the connector was off when it was assigned"
