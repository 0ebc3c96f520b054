"""SSRF: the URLs a manager sets for webhooks must reach public addresses (services/egress),
checked when set (a 422 naming `url`) and again before each delivery."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from router.models import deliveries
from router.webhooks import WebhookWorker
from services import egress
from services.crypto import SecretBox
from services.egress import PrivateAddress, check_public
from tests.backends import ADMIN, EmbeddedBackend, eventually
from tests.scenarios.router import world_at
from tests.unit.router.test_webhooks import subscribe

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


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A resolver the test fills in (there is no DNS here); other names do not resolve."""
    names: dict[str, list[str]] = {}

    async def resolve(host: str) -> list[str]:
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return names[host]

    monkeypatch.setattr(egress, "resolve", resolve)
    return names


async def test_public_addresses_and_names_pass(dns: dict[str, list[str]]) -> None:
    dns["crm.example"] = ["93.184.215.14", "2606:4700::1111"]
    for url in ("https://93.184.215.14/hooks", "http://[2606:4700::1111]/", dns_url()):
        await check_public(url)


def dns_url() -> str:
    return "https://crm.example/hooks"


async def test_names_that_resolve_privately_or_not_at_all_are_refused(
    dns: dict[str, list[str]],
) -> None:
    dns["internal.example"] = ["93.184.215.14", "10.0.0.7"]  # one private answer is enough
    with pytest.raises(PrivateAddress, match=r"10\.0\.0\.7"):
        await check_public("https://internal.example/hooks")
    with pytest.raises(PrivateAddress, match="does not resolve"):
        await check_public("https://nowhere.example/hooks")  # it may resolve privately later
    with pytest.raises(PrivateAddress, match="cannot be read"):
        await check_public("http://[::1/hooks")  # refused, not a 500


async def test_the_api_refuses_a_private_webhook_url_naming_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dns: dict[str, list[str]]
) -> None:
    dns["crm.example"] = ["93.184.215.14"]
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
        unresolved = await http.post(
            "/router/v1/subscriptions", json={"url": "https://nowhere.example/"}, headers=ADMIN
        )
        assert unresolved.status_code == 422, unresolved.text
        assert "does not resolve" in unresolved.json()["errors"][0]["message"]
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

        worker = WebhookWorker(
            world.unit, world.settings, httpx.MockTransport(receiver), box=SecretBox.ephemeral()
        )
        try:
            assert await worker.run_once() == 1
        finally:
            await worker.stop()
        assert sent == []
        async with world.unit.read() as conn:
            row = (await conn.execute(select(deliveries.c.status, deliveries.c.last_error))).one()
        assert row.status == "pending", "retried later, in case the name is re-pointed"
        assert row.last_error.startswith("refused: 127.0.0.1 is not a public address")


async def test_a_sources_api_base_url_is_checked_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dns: dict[str, list[str]]
) -> None:
    dns["graph.example"] = ["93.184.215.14"]
    monkeypatch.setenv("LEADFARM_INGEST_ALLOW_PRIVATE_API_URLS", "false")
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        http = backend.client("ingest")
        secrets = {"app_secret": "s", "verify_token": "v", "access_token": "a"}
        for url, words in (
            ("http://169.254.169.254/latest/meta-data", "not a public address"),
            ("http://localhost:8080/v21.0", "this machine"),
            ("https://nowhere.example/v21.0", "does not resolve"),
        ):
            refused = await http.put(
                "/ingest/v1/sources/fb",
                json={"provider": "meta", "secrets": secrets, "api_base_url": url},
                headers=ADMIN,
            )
            assert refused.status_code == 422, refused.text
            [error] = refused.json()["errors"]
            assert error["field"] == "api_base_url"
            assert words in error["message"]
        created = await http.put(
            "/ingest/v1/sources/fb",
            json={
                "provider": "meta",
                "secrets": secrets,
                "api_base_url": "https://graph.example/v21.0",
            },
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
    finally:
        await backend.stop()


async def test_a_fetch_to_a_private_address_is_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serve_api: Any
) -> None:
    """A source from the environment is not checked when set: every fetch is, before the
    request leaves. The delivery stays pending (the name may be re-pointed) and says why."""
    import hashlib
    import hmac

    from fastapi import FastAPI

    from ingest.fetcher import FetchWorker

    calls: list[str] = []
    api = FastAPI()

    @api.get("/v21.0/{lead_id}")
    async def lead(lead_id: str) -> dict[str, str]:
        calls.append(lead_id)
        return {"id": lead_id}

    base = serve_api(api)
    monkeypatch.setenv("LEADFARM_INGEST_ALLOW_PRIVATE_API_URLS", "false")
    monkeypatch.setenv("LEADFARM_INGEST_FETCH_POLL_INTERVAL_S", "3600")
    monkeypatch.setenv(
        "LEADFARM_INGEST_SOURCES",
        json.dumps(
            {
                "fb": {
                    "provider": "meta",
                    "secrets": {"app_secret": "s1", "verify_token": "v", "access_token": "a"},
                    "api_base_url": f"{base}/v21.0",
                }
            }
        ),
    )
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        body = json.dumps(
            {
                "object": "page",
                "entry": [
                    {
                        "id": "1",
                        "time": 1,
                        "changes": [
                            {"field": "leadgen", "value": {"leadgen_id": "777", "page_id": "1"}}
                        ],
                    }
                ],
            }
        ).encode()
        digest = hmac.new(b"s1", body, hashlib.sha256).hexdigest()
        posted = await backend.client("ingest").post(
            "/ingest/v1/webhooks/fb",
            content=body,
            headers={"content-type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"},
        )
        assert posted.status_code == 200, posted.text
        worker = next(
            w for s in backend.runtime.specs for w in s.workers if isinstance(w, FetchWorker)
        )
        await worker.run_once()  # unless its background round took the delivery first

        async def refused() -> dict[str, Any] | None:
            listed = await backend.client("ingest").get(
                "/ingest/v1/deliveries", params={"status": "pending"}, headers=ADMIN
            )
            [pending] = listed.json()
            return pending if pending["last_error"] else None

        pending = await eventually(refused, timeout=10)
        assert "refused: 127.0.0.1 is not a public address" in pending["last_error"]
        assert calls == [], "the request never left"
    finally:
        await backend.stop()
