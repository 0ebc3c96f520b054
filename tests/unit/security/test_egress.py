"""SSRF: the URLs a manager sets for webhooks must reach public addresses (services/egress),
checked when set (a 422 naming `url`) and again before each delivery."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from router.models import deliveries
from router.webhooks import WebhookWorker
from services.egress import PrivateAddress, check_public
from tests.backends import ADMIN, EmbeddedBackend
from tests.unit.router.test_webhooks import subscribe
from tests.unit.router.world import world_at

PRIVATE = [
    "http://127.0.0.1:8080/hooks",
    "http://10.1.2.3/hooks",
    "http://172.16.0.9/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    "http://100.64.0.1/",  # shared address space
    "http://0.0.0.0/",
    "http://[::1]/hooks",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://224.0.0.1/",
    "http://localhost:9000/hooks",
    "http://api.localhost/",
]


@pytest.mark.parametrize("url", PRIVATE)
async def test_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(PrivateAddress):
        await check_public(url)


@pytest.mark.parametrize(
    "url",
    ["https://93.184.215.14/hooks", "http://[2606:4700::1111]/", "https://crm.example/hooks"],
)
async def test_public_and_unresolvable_urls_pass(url: str) -> None:
    await check_public(url)  # crm.example does not resolve: the delivery will fail instead


async def test_the_api_refuses_a_private_webhook_url_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS", "false")
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        http = backend.client("router")
        refused = await http.post(
            "/router/v1/subscriptions",
            json={"url": "http://169.254.169.254/latest/meta-data/"},
            headers=ADMIN,
        )
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in problem["errors"]] == ["url"]
        assert "public address" in problem["errors"][0]["message"]
        created = await http.post(
            "/router/v1/subscriptions", json={"url": "https://crm.example/hooks"}, headers=ADMIN
        )
        assert created.status_code == 201, created.text
        patched = await http.patch(
            f"/router/v1/subscriptions/{created.json()['id']}",
            json={"url": "http://localhost:6379/"},
            headers=ADMIN,
        )
        assert patched.status_code == 422, patched.text
        assert [e["field"] for e in patched.json()["errors"]] == ["url"]
    finally:
        await backend.stop()


async def test_a_delivery_to_a_private_address_is_not_sent(tmp_path: Path) -> None:
    """A subscription stored before the check (or whose name now resolves privately) is
    refused at delivery time: the request is never made, the attempt records why."""
    async with world_at(tmp_path, allow_private_webhook_urls=False) as world:
        await world.rep("ana")
        await subscribe(world, url="http://127.0.0.1:9/hooks")
        await world.qualify()
        sent: list[httpx.Request] = []

        def receiver(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return httpx.Response(204)

        worker = WebhookWorker(world.unit, world.settings, httpx.MockTransport(receiver))
        try:
            assert await worker.run_once() == 1
        finally:
            await worker.stop()
        assert sent == []
        async with world.unit.read() as conn:
            row = (await conn.execute(select(deliveries.c.status, deliveries.c.last_error))).one()
        assert row.status == "pending", "retried later, in case the name is re-pointed"
        assert row.last_error.startswith("refused: 127.0.0.1 is not a public address")
