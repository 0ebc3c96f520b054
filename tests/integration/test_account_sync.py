"""Account owners synced from HubSpot companies on both runtimes, against the local fake of
HubSpot's API (tests/fakes/hubspot.py), which checks each CRM search request: a company
whose owner is a rep's HubSpot owner id becomes that rep's account, and the next lead from
its domain routes to them; an owner change in HubSpot moves the account; an owner no rep
has is reported, then matched once a rep has it; a HubSpot outage is in the status and
retried with backoff; two replicas never run one connector's sync at once; a sync cut short
goes on after a restart; Salesforce's Accounts sync through the same scheduler."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp

from router.connectors import repository
from router.connectors.accounts import AccountSyncWorker
from services.clock import ManualClock
from tests.backends import ADMIN, Backend, EmbeddedBackend, eventually
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce
from tests.integration.test_router_flow import add_rep, assigned

SYNC = "/router/v1/connectors/hs/accounts-sync"
SEARCH = "/crm/v3/objects/companies/search"
PROPERTIES = ["domain", "name", "hubspot_owner_id", "hs_lastmodifieddate"]


@pytest.fixture
def hubspot(serve_api: Callable[[ASGIApp], str]) -> tuple[FakeHubSpot, str]:
    fake = FakeHubSpot(
        token=f"pat-na1-{secrets.token_hex(16)}",
        client_secret=secrets.token_hex(16),
        owners={"101", "102", "999"},
        search_page_size=2,
    )
    return fake, serve_api(fake.app())


def search(since: str, after: str | None = None) -> dict[str, Any]:
    """The exact body of HubSpot's CRM search for companies changed after `since`."""
    body: dict[str, Any] = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": since}]}
        ],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": PROPERTIES,
        "limit": 100,
    }
    if after is not None:
        body["after"] = after
    return body


async def sync(backend: Backend, clock: ManualClock, **body: Any) -> dict[str, Any]:
    """Run the sync now and wait for its run to end; returns the status."""
    clock.advance(timedelta(minutes=1))
    router = backend.client("router")
    started = await router.post(SYNC, json=body or None, headers=ADMIN)
    assert started.status_code == 202, started.text

    async def ended() -> dict[str, Any] | None:
        status = (await router.get(SYNC, headers=ADMIN)).json()
        attempted = status["last_attempt_at"]
        done = attempted is not None and attempted >= started.json()["next_run_at"]
        return status if done and not status["running"] else None

    return await eventually(ended)


async def accounts(backend: Backend) -> dict[str, dict[str, Any]]:
    listed = await backend.client("router").get("/router/v1/accounts", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    return {a["domain"]: a for a in listed.json()}


async def test_hubspot_companies_become_account_owners_that_route_the_next_lead(
    routed: tuple[Backend, ManualClock], hubspot: tuple[FakeHubSpot, str]
) -> None:
    backend, clock = routed
    fake, base = hubspot
    router = backend.client("router")
    connected = await router.put(
        "/router/v1/connectors/hs",
        json={
            "kind": "hubspot",
            "settings": {"api_base_url": base, "sync_accounts": True},
            "credentials": {"access_token": fake.token},
        },
        headers=ADMIN,
    )
    assert connected.status_code == 201, connected.text
    await add_rep(backend, "ana", crm_owner_ids={"hubspot": "101"})
    await add_rep(backend, "bo", crm_owner_ids={"hubspot": "102"})
    pool = await router.put(
        "/router/v1/pools/everyone", json={"strategy": "account_owner_first"}, headers=ADMIN
    )
    assert pool.status_code == 200, pool.text
    # A manager gave beta.example to Bo by hand; HubSpot says Ana owns it.
    manual = await router.put(
        "/router/v1/accounts/beta.example", json={"rep_id": "bo"}, headers=ADMIN
    )
    assert manual.json()["source"] == "manual"

    acme = fake.add_company("acme.example", "102", "Acme GmbH")
    beta = fake.add_company("https://www.Beta.example/", "101")
    fake.add_company("gamma.example", "999")
    fake.add_company("delta.example", None)
    fake.add_company("", "101")
    fake.add_company("acme gmbh (berlin)", "101")

    status = await sync(backend, clock)
    assert status["last_error"] is None, status
    assert status["counts"] == {
        "read": 6,
        "added": 1,
        "moved": 1,
        "unchanged": 0,
        "unmatched": 1,
        "no_owner": 1,
        "no_domain": 2,
        "removed": 0,
        "rematched": 0,
    }
    assert status["unmatched_owners"] == [
        {"owner_id": "999", "accounts": 1, "domains": ["gamma.example"]}
    ]
    seen = fake.requests("POST", SEARCH)
    assert seen[0].headers["authorization"] == f"Bearer {fake.token}"
    assert seen[0].headers["content-type"] == "application/json"
    last = fake.companies[sorted(fake.companies)[-1]]["properties"]["hs_lastmodifieddate"]
    last_ms = str(int(_ms(last)))
    assert [s.body for s in seen] == [
        search("0"),
        search("0", "2"),
        search("0", "4"),
        search(last_ms),
    ]
    assert status["cursor"] == last_ms

    owners = await accounts(backend)
    assert owners["acme.example"]["rep_id"] == "bo"
    assert (owners["acme.example"]["source"], owners["acme.example"]["connector_id"]) == (
        "connector",
        "hs",
    )
    assert owners["acme.example"]["external_id"] == acme
    assert (owners["beta.example"]["rep_id"], owners["beta.example"]["external_id"]) == (
        "ana",
        beta,
    ), "the CRM wins over a hand-set owner"
    assert "gamma.example" not in owners
    assert "delta.example" not in owners

    # The next lead from acme.example goes to its owner in HubSpot.
    _, rep_id = await assigned(backend, 1)
    assert rep_id == "bo"

    # Its owner changes in HubSpot: the next run reads only that change, and it moves.
    fake.change_company(acme, hubspot_owner_id="101")
    await add_rep(backend, "carl", crm_owner_ids={"hubspot": "999"})
    status = await sync(backend, clock)
    assert fake.requests("POST", SEARCH)[4].body == search(last_ms)
    assert (status["counts"]["moved"], status["counts"]["read"]) == (1, 1)
    assert status["counts"]["rematched"] == 1, "gamma's owner is Carl's HubSpot id now"
    assert status["unmatched_owners"] == []
    owners = await accounts(backend)
    assert owners["acme.example"]["rep_id"] == "ana"
    assert owners["gamma.example"]["rep_id"] == "carl"
    _, rep_id = await assigned(backend, 2)
    assert rep_id == "ana"

    # An owner who is no rep: the account the sync gave is taken back, not guessed.
    fake.change_company(acme, hubspot_owner_id="555")
    status = await sync(backend, clock)
    assert (status["counts"]["unmatched"], status["counts"]["removed"]) == (1, 1)
    assert "acme.example" not in await accounts(backend)


async def test_a_hubspot_outage_is_in_the_status_and_retried_with_backoff(
    routed: tuple[Backend, ManualClock], hubspot: tuple[FakeHubSpot, str]
) -> None:
    backend, clock = routed
    fake, base = hubspot
    router = backend.client("router")
    off = await router.put(
        "/router/v1/connectors/hs",
        json={
            "kind": "hubspot",
            "settings": {"api_base_url": base},
            "credentials": {"access_token": fake.token},
        },
        headers=ADMIN,
    )
    assert off.status_code == 201
    refused = await router.post(SYNC, headers=ADMIN)
    assert refused.status_code == 409
    assert "sync_accounts" in refused.json()["detail"]
    on = await router.put(
        "/router/v1/connectors/hs",
        json={
            "kind": "hubspot",
            "settings": {"api_base_url": base, "sync_accounts": True, "sync_interval_minutes": 30},
        },
        headers=ADMIN,
    )
    assert on.status_code == 200, on.text
    await add_rep(backend, "ana", crm_owner_ids={"hubspot": "101"})
    fake.add_company("acme.example", "101")
    fake.add_company("beta.example", "101")
    fake.add_company("gamma.example", "101")

    fake.fail_next(503)
    status = await sync(backend, clock)
    assert status["last_status_code"] == 503
    assert "HubSpot answered 503" in status["last_error"]
    assert "Service unavailable" in status["last_error"]
    assert status["attempts"] == 1
    assert status["last_finished_at"] is None
    assert _ms(status["next_run_at"]) - _ms(status["last_attempt_at"]) == 30_000
    assert await accounts(backend) == {}

    # The retry, 30 s later: the first page is written with the cursor after it, then
    # HubSpot limits the rate (429, Retry-After 120 s, more than the 1-minute backoff).
    fake.fail_next(429, retry_after="120", after=1)
    clock.advance(timedelta(seconds=30))
    worker = _worker(backend)
    worker.wake()
    status = await eventually(lambda: _attempted(backend, 2))
    assert (status["last_status_code"], status["cursor"]) == (429, "0/2")
    assert _ms(status["next_run_at"]) - _ms(status["last_attempt_at"]) == 120_000
    assert set(await accounts(backend)) == {"acme.example", "beta.example"}

    # HubSpot is back: the retry goes on from the cursor, and the next run is an interval
    # after the end.
    clock.advance(timedelta(seconds=120))
    worker.wake()
    done = await eventually(lambda: _finished(backend))
    assert (done["attempts"], done["last_error"]) == (0, None)
    assert _ms(done["next_run_at"]) - _ms(done["last_finished_at"]) == 30 * 60_000
    assert fake.requests("POST", SEARCH)[3].body == search("0", "2")
    assert set(await accounts(backend)) == {"acme.example", "beta.example", "gamma.example"}


async def test_two_replicas_never_claim_one_connectors_sync_at_once(
    routed: tuple[Backend, ManualClock],
) -> None:
    backend, clock = routed
    unit = backend.runtimes["router"].units["router"]
    now = clock.now()
    async with unit.transaction() as tx:
        await repository.account_syncs.ensure_syncs(tx, ["elsewhere"], now)

    async def claim(lease_id: str) -> list[repository.account_syncs.SyncRun]:
        async with unit.transaction() as tx:
            return await repository.account_syncs.claim_syncs(
                tx, ["elsewhere"], now, now + timedelta(minutes=5), 2, lease_id
            )

    first, second = await asyncio.gather(claim("a"), claim("b"))
    assert sorted(len(c) for c in (first, second)) == [0, 1]
    # The lease runs out (the replica died): another replica takes it over.
    later = now + timedelta(minutes=6)
    async with unit.transaction() as tx:
        (_taken,) = await repository.account_syncs.claim_syncs(
            tx, ["elsewhere"], later, later + timedelta(minutes=5), 2, "c"
        )
        assert not await repository.account_syncs.holds_lease(
            tx, "elsewhere", (first or second)[0].lease_id
        )
        assert await repository.account_syncs.holds_lease(tx, "elsewhere", "c")


def _worker(backend: Backend) -> AccountSyncWorker:
    return next(
        w
        for spec in backend.runtimes["router"].specs
        if spec.name == "router"
        for w in spec.workers
        if isinstance(w, AccountSyncWorker)
    )


async def _attempted(backend: Backend, attempts: int) -> dict[str, Any] | None:
    status = (await backend.client("router").get(SYNC, headers=ADMIN)).json()
    return status if status["attempts"] >= attempts and not status["running"] else None


async def _finished(backend: Backend) -> dict[str, Any] | None:
    status = (await backend.client("router").get(SYNC, headers=ADMIN)).json()
    return status if status["last_finished_at"] and not status["running"] else None


def _ms(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp() * 1000


async def test_a_sync_cut_short_goes_on_from_its_cursor_after_a_restart(
    tmp_path: Path, hubspot: tuple[FakeHubSpot, str]
) -> None:
    fake, base = hubspot
    clock = ManualClock()
    backend = await EmbeddedBackend(tmp_path, clock=clock, timer_poll_interval_s=3600).start()
    try:
        connected = await backend.client("router").put(
            "/router/v1/connectors/hs",
            json={
                "kind": "hubspot",
                "settings": {"api_base_url": base, "sync_accounts": True},
                "credentials": {"access_token": fake.token},
            },
            headers=ADMIN,
        )
        assert connected.status_code == 201, connected.text
        await add_rep(backend, "ana", crm_owner_ids={"hubspot": "101"})
        for domain in ("acme.example", "beta.example", "gamma.example"):
            fake.add_company(domain, "101")
        fake.fail_next(503, after=1)
        status = await sync(backend, clock)
        assert (status["cursor"], status["last_status_code"]) == ("0/2", 503)
        assert set(await accounts(backend)) == {"acme.example", "beta.example"}
    finally:
        await backend.stop()
    clock.advance(timedelta(minutes=1))
    again = await EmbeddedBackend(tmp_path, clock=clock, timer_poll_interval_s=3600).start()
    try:
        _worker(again).wake()
        done = await eventually(lambda: _finished(again))
        assert done["last_error"] is None
        assert fake.requests("POST", SEARCH)[2].body == search("0", "2")
        assert set(await accounts(again)) == {"acme.example", "beta.example", "gamma.example"}
    finally:
        await again.stop()


async def test_salesforce_accounts_sync_through_the_same_scheduler(
    tmp_path: Path, serve_api: Callable[[ASGIApp], str]
) -> None:
    """The scheduler knows only `SyncsAccounts`: Salesforce's Accounts (helper sf16's kind)
    become account owners by `crm_owner_ids.salesforce` exactly as HubSpot's companies do."""
    ana, stranger = "005000000000101AAA", "005000000000999AAA"
    fake = FakeSalesforce(
        client_id=f"3MVG9{secrets.token_hex(16)}",
        client_secret=secrets.token_hex(16),
        public_key="",
        username="leadfarm@acme.example",
        users={ana, stranger},
    )
    fake.base = fake.audience = serve_api(fake.app())
    fake.add_account("Acme", "https://www.acme.example/de", ana, "2026-01-04T09:00:00.000+0000")
    fake.add_account("Beta", "beta.example", stranger, "2026-01-04T10:00:00.000+0000")
    clock = ManualClock()
    backend = await EmbeddedBackend(tmp_path, clock=clock, timer_poll_interval_s=3600).start()
    try:
        router = backend.client("router")
        connected = await router.put(
            "/router/v1/connectors/hs",
            json={
                "kind": "salesforce",
                "settings": {"login_url": fake.base, "sync_accounts": True},
                "credentials": {
                    "client_id": fake.client_id,
                    "client_secret": fake.client_secret,
                    "webhook_secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
                },
            },
            headers=ADMIN,
        )
        assert connected.status_code == 201, connected.text
        await add_rep(backend, "ana", crm_owner_ids={"salesforce": ana})
        status = await sync(backend, clock)
        assert status["last_error"] is None, status
        assert (status["counts"]["added"], status["counts"]["unmatched"]) == (1, 1)
        assert status["unmatched_owners"][0]["owner_id"] == stranger
        owners = await accounts(backend)
        assert (owners["acme.example"]["rep_id"], owners["acme.example"]["source"]) == (
            "ana",
            "connector",
        )
    finally:
        await backend.stop()
