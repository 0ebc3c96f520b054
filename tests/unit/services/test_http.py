"""The HTTP surface every service shares: keys and scopes, problem+json, health, metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.backends import ADMIN, EmbeddedBackend


async def make_key(
    embedded: EmbeddedBackend, scope: str, rep_id: str | None = None
) -> dict[str, str]:
    body = {"name": f"{scope} key", "scope": scope, "rep_id": rep_id}
    response = await embedded.client("ingest").post("/admin/v1/keys", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


async def test_scopes_are_enforced(embedded: EmbeddedBackend) -> None:
    http = embedded.client("ingest")
    ingest = await make_key(embedded, "ingest")
    manager = await make_key(embedded, "manager")
    lead = {"email": "a@b.example"}

    assert (await http.post("/ingest/v1/leads", json=lead, headers=ingest)).status_code == 202
    forbidden = await http.get("/audit/v1/leads/x/timeline", headers=ingest)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    assert "scope manager" in forbidden.json()["detail"]
    assert (await http.get("/router/v1/reps", headers=ingest)).status_code == 403
    assert (await http.get("/router/v1/reps", headers=manager)).status_code == 200
    assert (
        await http.post("/admin/v1/keys", json={"name": "n", "scope": "admin"}, headers=manager)
    ).status_code == 403


async def test_missing_unknown_and_revoked_keys_get_401(embedded: EmbeddedBackend) -> None:
    http = embedded.client("ingest")
    missing = await http.get("/router/v1/reps")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    bogus = {"Authorization": "Bearer lf_000000000000_nope"}
    assert (await http.get("/router/v1/reps", headers=bogus)).status_code == 401

    manager = await make_key(embedded, "manager")
    key_id = manager["Authorization"].split("_")[1]
    assert (await http.get("/router/v1/reps", headers=manager)).status_code == 200
    assert (await http.delete(f"/admin/v1/keys/{key_id}", headers=ADMIN)).status_code == 204
    assert (await http.get("/router/v1/reps", headers=manager)).status_code == 401
    assert (await http.delete(f"/admin/v1/keys/{key_id}", headers=ADMIN)).status_code == 404


async def test_keys_are_stored_hashed_and_listed_without_secrets(embedded: EmbeddedBackend) -> None:
    manager = await make_key(embedded, "manager")
    token = manager["Authorization"].removeprefix("Bearer ")
    secret = token.split("_", 2)[2]  # the secret itself may contain "_"
    assert len(secret) >= 40
    listed = await embedded.client("ingest").get("/admin/v1/keys", headers=ADMIN)
    assert secret not in listed.text
    db_file = embedded.settings.data_dir / "leadfarm.db"
    assert secret.encode() not in db_file.read_bytes()


async def test_a_rep_key_must_name_its_rep(embedded: EmbeddedBackend) -> None:
    response = await embedded.client("ingest").post(
        "/admin/v1/keys", json={"name": "r", "scope": "rep"}, headers=ADMIN
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "rep_id"


async def test_bad_input_gets_problem_json_naming_the_field(embedded: EmbeddedBackend) -> None:
    http = embedded.client("ingest")
    no_contact = await http.post("/ingest/v1/leads", json={"first_name": "Jo"}, headers=ADMIN)
    assert no_contact.status_code == 422
    fields = {e["field"] for e in no_contact.json()["errors"]}
    assert {"email", "phone"} <= fields

    wrong_type = await http.post(
        "/ingest/v1/leads", json={"email": "a@b.example", "employees": "many"}, headers=ADMIN
    )
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["field"] == "employees"
    assert "employees" in wrong_type.json()["detail"]

    unknown_field = await http.post(
        "/ingest/v1/leads", json={"email": "a@b.example", "emial": "x"}, headers=ADMIN
    )
    assert unknown_field.status_code == 422
    assert unknown_field.json()["errors"][0]["field"] == "emial"

    malformed = await http.post(
        "/ingest/v1/leads",
        content=b'{"email": ',
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"

    nowhere = await http.get("/nowhere", headers=ADMIN)
    assert nowhere.status_code == 404
    assert nowhere.json()["detail"] == "There is no route GET /nowhere."

    missing = await http.get("/ingest/v1/leads/nope", headers=ADMIN)
    assert missing.status_code == 404
    assert "nope" in missing.json()["detail"]


async def test_health_readiness_and_metrics(embedded: EmbeddedBackend) -> None:
    http = embedded.client("ingest")
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/readyz")).json() == {"status": "ready", "runtime": "embedded"}
    await http.post("/ingest/v1/leads", json={"email": "m@b.example"}, headers=ADMIN)
    metrics = (await http.get("/metrics")).text
    assert (
        'leadfarm_http_requests_total{method="POST",route="/ingest/v1/leads",status="202"}'
        in metrics
    )
    embedded.runtime.ready = False
    unready = await http.get("/readyz")
    assert unready.status_code == 503
    embedded.runtime.ready = True


async def test_the_normalised_lead_can_be_read_back(embedded: EmbeddedBackend) -> None:
    lead_id = await embedded.post_lead(
        email="  Jo.Smith@Example.COM ",
        phone="(415) 555-2671",
        country="us",
        first_name="  Jo ",
        last_name="Smith",
        website="https://www.acme.example/about",
    )
    response = await embedded.client("ingest").get(f"/ingest/v1/leads/{lead_id}", headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    lead = body["lead"]
    assert lead["email"] == "jo.smith@example.com"
    assert lead["phone"] == "+14155552671"
    assert lead["country"] == "US"
    assert lead["full_name"] == "Jo Smith"
    assert lead["company_domain"] == "acme.example"
    assert body["deliveries"][0]["source"] == "api"


async def test_each_request_has_an_id_for_its_logs() -> None:
    import httpx
    from fastapi import FastAPI

    from services.app import ObserveMiddleware
    from services.logs import request_id_var

    app = FastAPI()

    @app.get("/id")
    async def current() -> dict[str, str | None]:
        return {"id": request_id_var.get()}

    app.add_middleware(ObserveMiddleware)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lf"
    ) as http:
        given = await http.get("/id", headers={"X-Request-Id": "rq-42"})
        made = await http.get("/id")
    assert given.json() == {"id": "rq-42"}
    assert made.json()["id"] not in (None, "rq-42")
    assert request_id_var.get() is None  # reset after the request


def _cached_ids(store: object) -> int:
    """Entries in every mapping the key store keeps (whatever it calls them)."""
    from collections.abc import Mapping

    return sum(len(v) for v in vars(store).values() if isinstance(v, Mapping))


async def test_the_key_cache_is_bounded_and_a_flood_of_unknown_ids_evicts_no_real_key(
    tmp_path: Path,
) -> None:
    backend = await EmbeddedBackend(tmp_path, api_key_cache_size=50).start()
    try:
        http = backend.client("ingest")
        created = await http.post(
            "/admin/v1/keys", json={"name": "m", "scope": "manager"}, headers=ADMIN
        )
        token = created.json()["key"]
        store = backend.runtime.key_store
        assert await store.authenticate(token) is not None
        for i in range(3000):  # each unauthenticated request may carry a new key id
            assert await store.authenticate(f"lf_{i:012x}_not-a-secret") is None
        assert _cached_ids(store) <= 50 + 1024
        reads = 0
        real_read = store.unit.read

        def counting_read() -> Any:
            nonlocal reads
            reads += 1
            return real_read()

        store.unit.read = counting_read  # type: ignore[method-assign]
        assert await store.authenticate(token) is not None
        assert reads == 0, "the real key is still cached"
        listed = await http.get("/router/v1/reps", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200
    finally:
        await backend.stop()


async def test_the_root_leads_to_the_dashboard_where_audit_is_served(tmp_path: Path) -> None:
    import httpx

    from services.app import create_app
    from services.runtime import cluster_runtime, embedded_runtime
    from services.settings import Settings

    cluster = Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:9/none")
    for runtime, home in (
        (embedded_runtime(Settings(data_dir=tmp_path)), "/audit/v1/dashboard"),
        (cluster_runtime(cluster, "audit"), "/audit/v1/dashboard"),
        (cluster_runtime(cluster, "router"), "/docs"),
    ):
        transport = httpx.ASGITransport(app=create_app(runtime))  # never started: no servers
        async with httpx.AsyncClient(transport=transport, base_url="http://leadfarm") as http:
            response = await http.get("/")
        await runtime.database.dispose()
        assert (response.status_code, response.headers["location"]) == (307, home)


async def test_a_405_names_every_method_the_path_takes(embedded: EmbeddedBackend) -> None:
    http = embedded.client("ingest")
    webhook = await http.put("/ingest/v1/webhooks/site", content=b"x")
    assert webhook.status_code == 405
    assert webhook.headers["content-type"] == "application/problem+json"
    assert webhook.headers["allow"] == "GET, POST"  # verification request, leads
    leads = await http.delete("/ingest/v1/leads", headers=ADMIN)
    assert leads.status_code == 405
    assert leads.headers["allow"] == "GET, POST"  # find by email, post a lead
    unknown = await http.request("XFOO", "/healthz")
    assert unknown.headers["allow"] == "GET"
