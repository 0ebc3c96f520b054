"""The router's HTTP API on the embedded runtime: managers configure reps, teams, accounts,
pools, rules and subscriptions; bad input names its fields; the fallback queue and a
manager's assignment; what a rep key may not do."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import update

from router.models import deliveries
from tests.backends import ADMIN, EmbeddedBackend, eventually
from tests.integration.test_flow import SALES_READY

REP = {"id": "ana", "name": "Ana", "email": "ana@example.com"}


async def rep_key(backend: EmbeddedBackend, rep_id: str) -> dict[str, str]:
    key = await backend.client("ingest").post(
        "/admin/v1/keys", json={"name": rep_id, "scope": "rep", "rep_id": rep_id}, headers=ADMIN
    )
    return {"Authorization": f"Bearer {key.json()['key']}"}


def fields(response: Any) -> set[str]:
    assert response.status_code == 422, response.text
    return {e["field"] for e in response.json()["errors"]}


async def test_reps_are_eligible_at_once_and_bad_calendars_name_their_fields(
    embedded: EmbeddedBackend,
) -> None:
    http = embedded.client("router")
    created = await http.post("/router/v1/reps", json=REP, headers=ADMIN)
    assert created.status_code == 201, created.text
    ana = created.json()
    assert (ana["time_zone"], ana["weight"], ana["max_open_leads"], ana["daily_cap"]) == (
        "UTC",
        1,
        None,
        None,
    )
    assert ana["working_hours"] == {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
    assert (await http.post("/router/v1/reps", json=REP, headers=ADMIN)).status_code == 409

    bad = await http.post(
        "/router/v1/reps",
        json={
            **REP,
            "id": "bo",
            "time_zone": "Mars/Base",
            "working_hours": {"mon": ["17:00-09:00"]},
            "territories": ["Germany"],
            "weight": 0,
        },
        headers=ADMIN,
    )
    assert fields(bad) == {"time_zone", "working_hours", "territories", "weight"}
    assert "unknown time zone 'Mars/Base'" in bad.text
    unknown_day = await http.post(
        "/router/v1/reps", json={**REP, "id": "cy", "working_hours": {"funday": []}}, headers=ADMIN
    )
    assert fields(unknown_day) == {"working_hours.funday.[key]"}

    patched = await http.patch(
        "/router/v1/reps/ana",
        json={
            "time_zone": "America/Chicago",
            "languages": ["EN", "es"],
            "daily_cap": 20,
            "out_of_office": [
                {"start": "2026-02-02T00:00:00Z", "end": "2026-02-06T00:00:00Z", "reason": "PTO"}
            ],
        },
        headers=ADMIN,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["time_zone"], patched.json()["languages"]) == (
        "America/Chicago",
        ["en", "es"],
    )
    assert patched.json()["name"] == "Ana", "fields left out stay"
    cleared = await http.patch("/router/v1/reps/ana", json={"daily_cap": None}, headers=ADMIN)
    assert cleared.json()["daily_cap"] is None
    assert fields(await http.patch("/router/v1/reps/ana", json={"name": None}, headers=ADMIN)) == {
        "name"
    }
    assert fields(
        await http.patch("/router/v1/reps/ana", json={"team_id": "nope"}, headers=ADMIN)
    ) == {"team_id"}
    backwards = await http.patch(
        "/router/v1/reps/ana",
        json={"out_of_office": [{"start": "2026-02-06T00:00:00Z", "end": "2026-02-02T00:00:00Z"}]},
        headers=ADMIN,
    )
    assert fields(backwards) == {"out_of_office.0"}


async def test_teams_accounts_pools_and_rules(embedded: EmbeddedBackend) -> None:
    http = embedded.client("router")
    team = {"name": "DACH", "holidays": [{"date": "2026-12-25", "name": "Christmas"}]}
    assert (await http.put("/router/v1/teams/dach", json=team, headers=ADMIN)).status_code == 201
    assert (await http.put("/router/v1/teams/dach", json=team, headers=ADMIN)).status_code == 200
    rep = {**REP, "team_id": "dach"}
    assert (await http.post("/router/v1/reps", json=rep, headers=ADMIN)).status_code == 201
    assert (await http.delete("/router/v1/teams/dach", headers=ADMIN)).status_code == 409

    account = await http.put(
        "/router/v1/accounts/WWW.Acme.example", json={"rep_id": "ana"}, headers=ADMIN
    )
    assert account.json()["domain"] == "acme.example"
    ghost = await http.put(
        "/router/v1/accounts/beta.example", json={"rep_id": "zed"}, headers=ADMIN
    )
    assert fields(ghost) == {"rep_id"}

    pool = {
        "strategy": "account_owner_first",
        "teams": ["dach"],
        "owner_fallback": "least_loaded",
        "sla": {"first_touch_minutes": 15, "calls": 6},
    }
    created = await http.put("/router/v1/pools/dach", json=pool, headers=ADMIN)
    assert created.status_code == 201, created.text
    effective = created.json()["effective_sla"]
    assert (effective["first_touch_minutes"], effective["calls"], effective["emails"]) == (15, 6, 2)
    bad = await http.put(
        "/router/v1/pools/x", json={"members": ["nobody"], "strategy": "fastest"}, headers=ADMIN
    )
    assert fields(bad) == {"strategy"}
    unknown = await http.put("/router/v1/pools/x", json={"members": ["nobody"]}, headers=ADMIN)
    assert fields(unknown) == {"members"}
    everyone = await http.get("/router/v1/pools/everyone", headers=ADMIN)
    assert everyone.json()["strategy"] == "weighted_round_robin"
    assert (await http.delete("/router/v1/pools/everyone", headers=ADMIN)).status_code == 409

    later = {"position": 20, "conditions": {"countries": ["de", "at", "ch"]}, "pool": "dach"}
    first = {"position": 10, "conditions": {"score_min": 90}, "pool": "everyone"}
    assert (await http.put("/router/v1/rules/dach", json=later, headers=ADMIN)).status_code == 201
    assert (await http.put("/router/v1/rules/hot", json=first, headers=ADMIN)).status_code == 201
    listed = (await http.get("/router/v1/rules", headers=ADMIN)).json()
    assert [r["id"] for r in listed] == ["hot", "dach"]
    assert listed[1]["conditions"]["countries"] == ["DE", "AT", "CH"]
    nowhere = await http.put("/router/v1/rules/x", json={"pool": "nowhere"}, headers=ADMIN)
    assert fields(nowhere) == {"pool"}
    bad_rule = await http.put(
        "/router/v1/rules/x",
        json={"pool": "dach", "conditions": {"countries": ["Germany"], "colour": "red"}},
        headers=ADMIN,
    )
    assert fields(bad_rule) == {"conditions.countries", "conditions.colour"}
    assert (await http.delete("/router/v1/pools/dach", headers=ADMIN)).status_code == 409

    dry = await http.post(
        "/router/v1/route:dry-run",
        json={"lead": {"country": "AT", "email": "x@acme.example"}, "score": 50},
        headers=ADMIN,
    )
    assert dry.status_code == 200, dry.text
    assert (dry.json()["rule"], dry.json()["pool"], dry.json()["rep_id"]) == ("dach", "dach", "ana")
    assert dry.json()["why"] == "owns the account acme.example"
    assert fields(await http.post("/router/v1/route:dry-run", json={}, headers=ADMIN)) == {"body"}


async def test_the_fallback_queue_and_a_managers_assignment(embedded: EmbeddedBackend) -> None:
    http = embedded.client("router")
    lead_id = await embedded.post_lead(**SALES_READY)
    events = await embedded.timeline_with(lead_id, "leadfarm.lead.queued.v1")
    queued = next(e for e in events if e["type"] == "leadfarm.lead.queued.v1")["data"]
    assert (queued["queue"], queued["reason"]) == ("fallback", "the pool has no reps")
    waiting = (await http.get("/router/v1/queue", headers=ADMIN)).json()
    assert [(w["lead_id"], w["status"]) for w in waiting] == [(lead_id, "queued")]

    for rep_id in ("ana", "bo"):
        body = {**REP, "id": rep_id}
        assert (await http.post("/router/v1/reps", json=body, headers=ADMIN)).status_code == 201
    routed = await http.post(f"/router/v1/leads/{lead_id}/assign", json={}, headers=ADMIN)
    assert routed.status_code == 200, routed.text
    assert routed.json()["rep_id"] == "ana"
    assert routed.json()["explanation"]["trigger"].startswith("routed again by a manager")
    moved = await http.post(
        f"/router/v1/leads/{lead_id}/assign",
        json={"rep_id": "bo", "reason": "speaks German"},
        headers=ADMIN,
    )
    assert moved.json()["rep_id"] == "bo"
    assert moved.json()["strategy"] == "manual"
    assert [h["rep_id"] for h in moved.json()["history"]] == ["ana", "bo"]
    events = await embedded.timeline_with(lead_id, "leadfarm.lead.reassigned.v1")
    reassigned = next(e for e in events if e["type"] == "leadfarm.lead.reassigned.v1")["data"]
    assert (reassigned["from_rep_id"], reassigned["reason"]) == ("ana", "speaks German")
    assert (await http.get("/router/v1/queue", headers=ADMIN)).json() == []
    ghost = await http.post(
        f"/router/v1/leads/{lead_id}/assign", json={"rep_id": "zed"}, headers=ADMIN
    )
    assert ghost.status_code == 422
    assert ghost.json()["detail"] == "There is no rep 'zed'."
    assert [e["field"] for e in ghost.json()["errors"]] == ["rep_id"]

    ana = await rep_key(embedded, "ana")
    assert (await http.post("/router/v1/reps", json=REP, headers=ana)).status_code == 403
    assert (await http.get("/router/v1/queue", headers=ana)).status_code == 403
    assert (await http.get("/router/v1/reps/ana", headers=ana)).status_code == 200
    assert (await http.get("/router/v1/reps/bo", headers=ana)).status_code == 404
    assert (
        await http.get(f"/router/v1/leads/{lead_id}/assignment", headers=ana)
    ).status_code == 404


async def test_subscriptions_show_their_secret_once_and_dead_deliveries_can_be_retried(
    embedded: EmbeddedBackend,
) -> None:
    http = embedded.client("router")
    bad = await http.post(
        "/router/v1/subscriptions",
        json={"url": "ftp://crm.example", "events": ["lead.teleported"]},
        headers=ADMIN,
    )
    assert fields(bad) == {"url", "events"}
    for url in ("http://cr\x01m.example/hooks", "http://[::1/hooks"):  # httpx refuses them
        refused = await http.post("/router/v1/subscriptions", json={"url": url}, headers=ADMIN)
        assert refused.status_code == 422, refused.text
        assert fields(refused) == {"url"}
    created = await http.post(
        "/router/v1/subscriptions",
        # Nothing listens there: every attempt fails.
        json={"url": "http://127.0.0.1:9/hooks", "events": ["leadfarm.lead.queued.v1"]},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["secret"].startswith("whsec_")
    listed = (await http.get("/router/v1/subscriptions", headers=ADMIN)).json()
    assert "secret" not in listed[0]
    assert listed[0]["secret_hint"] == subscription["secret"][:10] + "…"

    lead_id = await embedded.post_lead(**SALES_READY)
    path = f"/router/v1/subscriptions/{subscription['id']}/deliveries"

    async def tried() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = (await http.get(path, headers=ADMIN)).json()
        return found if found and found[0]["attempts"] >= 1 else None

    (delivery,) = await eventually(tried)
    assert (delivery["lead_id"], delivery["status"]) == (lead_id, "pending")
    assert delivery["last_error"].startswith("ConnectError")
    # Make it dead now rather than in 24 hours.
    async with embedded.runtime.units["router"].transaction() as tx:
        await tx.conn.execute(update(deliveries).values(status="dead", next_attempt_at=None))
    dead = (await http.get(path, params={"status": "dead"}, headers=ADMIN)).json()
    assert [d["id"] for d in dead] == [delivery["id"]]
    retried = await http.post(f"{path}/{delivery['id']}/retry", headers=ADMIN)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending"

    off = await http.patch(
        f"/router/v1/subscriptions/{subscription['id']}", json={"active": False}, headers=ADMIN
    )
    assert off.json()["active"] is False
    assert (
        await http.delete(f"/router/v1/subscriptions/{subscription['id']}", headers=ADMIN)
    ).status_code == 204
    assert (await http.get(path, headers=ADMIN)).status_code == 404
    assert orjson.loads(created.content)["events"] == ["leadfarm.lead.queued.v1"]
