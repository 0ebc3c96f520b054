"""Rules people write, on both runtimes: a lead's UTM values and form answers route it by a
group of tests; every change of a rule or a pool is a version with who made it, and a
rollback restores an earlier one (a new version, audited the same way) that the next lead,
on every replica, is routed by."""

from __future__ import annotations

from typing import Any

from router.config import ROUTING
from router.config import load as load_routing_config
from services.reference import Reference
from tests.backends import ADMIN, Backend
from tests.integration.test_flow import SALES_READY

ASSIGNED = "leadfarm.lead.assigned.v1"
LINKEDIN_OR_BIG_TEAM = {
    "any": [
        {"field": "utm.utm_source", "op": "equals", "value": "linkedin"},
        {
            "all": [
                {"field": "answers.Team size", "op": "greater_or_equal", "value": 200},
                {"field": "country", "op": "in", "value": ["DE", "AT", "CH"]},
            ]
        },
    ]
}


async def put(backend: Backend, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = await backend.client("router").put(f"/router/v1/{path}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def get(backend: Backend, path: str) -> Any:
    response = await backend.client("router").get(f"/router/v1/{path}", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


async def manager(backend: Backend, name: str) -> tuple[dict[str, str], str]:
    made = await backend.client("ingest").post(
        "/admin/v1/keys", json={"name": name, "scope": "manager"}, headers=ADMIN
    )
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}, made.json()["id"]


async def test_a_lead_is_routed_by_its_utm_source_or_form_answers(backend: Backend) -> None:
    http = backend.client("router")
    for rep in ("ana", "bo"):
        body = {"id": rep, "name": rep.title(), "email": f"{rep}@example.com"}
        assert (await http.post("/router/v1/reps", json=body, headers=ADMIN)).status_code == 201
    await put(backend, "pools/social", {"members": ["bo"]}, ADMIN)
    await put(backend, "pools/rest", {"members": ["ana"]}, ADMIN)
    await put(
        backend, "rules/social", {"pool": "social", "conditions": LINKEDIN_OR_BIG_TEAM}, ADMIN
    )
    await put(backend, "rules/rest", {"pool": "rest", "position": 200}, ADMIN)

    async def routed(n: int, **extra: Any) -> dict[str, Any]:
        lead = {**SALES_READY, "email": f"buyer{n}@acme.example", "phone": f"+4930555{n:04d}"}
        lead_id = await backend.post_lead(**lead, **extra)
        events = await backend.timeline_with(lead_id, ASSIGNED)
        assignment: dict[str, Any] = await get(backend, f"leads/{lead_id}/assignment")
        said = next(e for e in events if e["type"] == ASSIGNED)["data"]
        assert said["rep_id"] == assignment["rep_id"]
        return assignment

    by_utm = await routed(1, utm={"utm_source": "LinkedIn", "utm_medium": "paid"})
    assert (by_utm["rule"], by_utm["pool"], by_utm["rep_id"]) == ("social", "social", "bo")
    [check] = by_utm["explanation"]["rules_checked"]
    assert check["held"] == ["utm.utm_source equals 'linkedin': is 'LinkedIn'"]
    assert check["conditions"]["any"][0]["path"] == "conditions.any.0"

    by_answer = await routed(2, answers={"Team size": "250"})
    assert (by_answer["rule"], by_answer["rep_id"]) == ("social", "bo")

    small = await routed(3, answers={"Team size": "12"}, utm={"utm_source": "google"})
    assert (small["rule"], small["rep_id"]) == ("rest", "ana")
    failed = small["explanation"]["rules_checked"][0]["failed"]
    assert failed == [
        "utm.utm_source equals 'linkedin': is 'google'",
        "answers.Team size at least 200: is '12'",
    ]


async def test_rules_and_pools_are_versioned_with_who_changed_them_and_roll_back(
    backend: Backend,
) -> None:
    http = backend.client("router")
    rita, rita_id = await manager(backend, "Rita (rev-ops)")
    unit = backend.runtimes["router"].units["router"]
    replica = Reference("router", ROUTING, load_routing_config)  # another replica's copy

    await put(backend, "pools/dach", {"strategy": "round_robin"}, rita)
    first = await put(
        backend, "rules/dach", {"pool": "dach", "conditions": LINKEDIN_OR_BIG_TEAM}, rita
    )
    assert first["conditions"] == LINKEDIN_OR_BIG_TEAM, "answered as sent, without nulls"
    [created] = await get(backend, "rules/history?rule=dach")
    v1 = created["version"]
    assert (first["version"], first["changed_by"]["name"]) == (v1, "Rita (rev-ops)")
    assert (await get(backend, "pools/dach"))["changed_by"]["key_id"] == rita_id
    assert (created["action"], created["rule"]["pool"]) == ("created", "dach")
    assert created["changed_by"] == {"key_id": rita_id, "name": "Rita (rev-ops)"}
    await put(backend, "rules/dach", {"pool": "dach", "position": 5, "conditions": {}}, rita)
    await put(backend, "rules/late", {"pool": "dach", "conditions": {"countries": ["FR"]}}, rita)

    history = await get(backend, "rules/history")
    assert [(h["rule_id"], h["action"]) for h in history] == [
        ("late", "created"),
        ("dach", "changed"),
        ("dach", "created"),
    ]
    assert history[1]["rule"]["position"] == 5
    assert [h["version"] for h in history] == sorted((h["version"] for h in history), reverse=True)
    then = await get(backend, f"rules/history/{v1}")
    assert then["version"] == v1
    assert [(r["id"], r["position"], r["conditions"]) for r in then["rules"]] == [
        ("dach", 100, LINKEDIN_OR_BIG_TEAM)
    ]
    pools = await get(backend, "pools/history?pool=dach")
    assert [(p["action"], p["pool"]["strategy"]) for p in pools] == [("created", "round_robin")]
    assert pools[0]["changed_by"]["key_id"] == rita_id
    assert any(p["pool_id"] == "everyone" for p in await get(backend, "pools/history"))

    async with unit.read() as conn:
        cached = await replica.current(conn)
    assert [r.id for r in cached.rules] == ["dach", "late"]

    rolled = await http.post("/router/v1/rules:rollback", json={"version": v1}, headers=ADMIN)
    assert rolled.status_code == 200, rolled.text
    body = rolled.json()
    assert [(c["rule_id"], c["action"], c["restored_from"]) for c in body["changes"]] == [
        ("dach", "changed", v1),
        ("late", "deleted", v1),
    ]
    assert body["changes"][0]["changed_by"]["key_id"] == "env-admin"
    assert [(r["id"], r["position"], r["conditions"]) for r in body["rules"]] == [
        ("dach", 100, LINKEDIN_OR_BIG_TEAM)
    ]
    [now] = await get(backend, "rules")
    assert (now["version"], now["changed_by"]["key_id"]) == (
        body["changes"][0]["version"],
        "env-admin",
    )
    assert (await get(backend, "rules/history"))[0]["restored_from"] == v1
    async with unit.read() as conn:
        reloaded = await replica.current(conn)
    assert [(r.id, r.position) for r in reloaded.rules] == [("dach", 100)], (
        "the rollback bumped the routing version: every replica reloads"
    )
    dry = await http.post(
        "/router/v1/route:dry-run",
        json={"lead": {"country": "FR", "utm": {"utm_source": "linkedin"}}},
        headers=ADMIN,
    )
    assert (dry.json()["rule"], dry.json()["pool"]) == ("dach", "dach"), dry.text
    [check] = dry.json()["explanation"]["rules_checked"]
    assert check["held"] == ["utm.utm_source equals 'linkedin': is 'linkedin'"]
    assert check["conditions"]["any"][1]["all"][1] == {
        "path": "conditions.any.1.all.1",
        "matched": False,
        "detail": "country in ['DE', 'AT', 'CH']: is 'FR'",
    }
    again = await http.post("/router/v1/rules:rollback", json={"version": v1}, headers=ADMIN)
    assert again.json()["changes"] == [], "nothing differs: no new version"

    # One rule alone, back to its second version.
    second = history[1]["version"]
    one = await http.post(
        "/router/v1/rules:rollback", json={"version": second, "rule": "dach"}, headers=rita
    )
    assert [(c["rule_id"], c["rule"]["position"]) for c in one.json()["changes"]] == [("dach", 5)]

    # A rule cannot come back to a pool that is gone; the pools can be restored first.
    assert (await http.delete("/router/v1/rules/dach", headers=rita)).status_code == 204
    assert (await http.delete("/router/v1/pools/dach", headers=rita)).status_code == 204
    refused = await http.post("/router/v1/rules:rollback", json={"version": v1}, headers=rita)
    assert refused.status_code == 409, refused.text
    assert "pool 'dach', which no longer exists" in refused.json()["detail"]
    pools_back = await http.post("/router/v1/pools:rollback", json={"version": v1}, headers=rita)
    assert pools_back.status_code == 200, pools_back.text
    assert [(c["pool_id"], c["action"]) for c in pools_back.json()["changes"]] == [
        ("dach", "created")
    ]
    restored = await http.post("/router/v1/rules:rollback", json={"version": v1}, headers=rita)
    assert [r["id"] for r in restored.json()["rules"]] == ["dach"]

    missing = await http.post("/router/v1/rules:rollback", json={"version": 10_000}, headers=rita)
    assert missing.status_code == 404
    assert (await http.get("/router/v1/rules/history/10000", headers=rita)).status_code == 404
    reserved = await http.put("/router/v1/rules/history", json={"pool": "dach"}, headers=rita)
    assert reserved.status_code == 422


async def test_a_bad_condition_is_named_by_its_path(backend: Backend) -> None:
    bad = {
        "pool": "everyone",
        "conditions": {
            "any": [
                {"field": "utm.utm_source", "op": "equals", "value": "linkedin"},
                {"all": [{"field": "country", "op": "bigger", "value": "DE"}]},
                {"field": "answers", "op": "exists"},
            ]
        },
    }
    response = await backend.client("router").put("/router/v1/rules/bad", json=bad, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert set(errors) == {"conditions.any.1.all.0.op", "conditions.any.2.field"}
    assert errors["conditions.any.1.all.0.op"]["pointer"] == "/conditions/any/1/all/0/op"
    assert "answers.<key>" in errors["conditions.any.2.field"]["message"]
    assert "conditions.any.1.all.0.op" in response.json()["detail"]
