"""The forecast's removal workflow on both runtimes: a lead leaves the forecast only when a
sales executive approves a request; reps, managers and admins cannot; every request,
approval and denial is recorded with its reason and said as an event on the lead's
timeline."""

from __future__ import annotations

from typing import Any

import pytest

from tests.backends import ADMIN, Backend
from tests.scenarios import audit as scenario


@pytest.fixture(autouse=True)
def _scenario_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in scenario.SETTINGS.items():
        monkeypatch.setenv(name, value)


async def new_key(backend: Backend, name: str, scope: str, rep_id: str | None = None) -> Any:
    response = await backend.client("audit").post(
        "/admin/v1/keys", json={"name": name, "scope": scope, "rep_id": rep_id}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], {"Authorization": f"Bearer {body['key']}"}


async def entry_of(backend: Backend, lead_id: str) -> dict[str, Any]:
    response = await backend.client("audit").get("/audit/v1/forecast/leads", headers=ADMIN)
    found: dict[str, Any] = next(e for e in response.json() if e["lead_id"] == lead_id)
    return found


async def test_only_a_sales_executive_takes_a_lead_off_the_forecast(backend: Backend) -> None:
    s = await scenario.load(backend)
    http = backend.client("audit")
    _, ana = await new_key(backend, "ana", "rep", "ana")
    bo_id, bo = await new_key(backend, "bo", "rep", "bo")
    manager_id, manager = await new_key(backend, "mia", "manager")
    exec_id, executive = await new_key(backend, "vp sales", "manager")

    # Roles: only an admin grants them, only to manager keys.
    roles = "/audit/v1/roles/sales-executive"
    assert (await http.post(roles, json={"key_id": exec_id}, headers=manager)).status_code == 403
    refused = await http.post(roles, json={"key_id": bo_id}, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "key_id"
    assert (await http.post(roles, json={"key_id": "nosuchkey"}, headers=ADMIN)).status_code == 404
    granted = await http.post(roles, json={"key_id": exec_id}, headers=ADMIN)
    assert granted.status_code == 201, granted.text
    assert granted.json()["granted_by"] == "env-admin"

    # A rep asks for their own lead only.
    l3 = s.id("L3")
    url = f"/audit/v1/forecast/leads/{l3}/removal-requests"
    reason = {"reason": "the prospect signed with a competitor last week"}
    assert (await http.post(url, json=reason, headers=ana)).status_code == 404
    assert (await http.post(url, json={"reason": ""}, headers=bo)).status_code == 422
    asked = await http.post(url, json=reason, headers=bo)
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["status"], request["requested_by"]) == ("pending", bo_id)
    again = await http.post(url, json=reason, headers=bo)
    assert again.status_code == 409
    assert request["id"] in again.json()["detail"]

    # Nobody but a sales executive decides: not the rep, not a manager, not an admin.
    approve = f"/audit/v1/forecast/removal-requests/{request['id']}/approve"
    decision = {"reason": "confirmed in the account review"}
    for headers in (bo, manager, ADMIN):
        refused = await http.post(approve, json=decision, headers=headers)
        assert refused.status_code == 403, refused.text
        assert "sales executive" in refused.json()["detail"]
    assert (await entry_of(backend, l3))["status"] == "open"

    approved = await http.post(approve, json=decision, headers=executive)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["decided_by"] == exec_id
    assert approved.json()["decision_reason"] == decision["reason"]
    assert (await http.post(approve, json=decision, headers=executive)).status_code == 409
    entry = await entry_of(backend, l3)
    assert (entry["status"], entry["removal_request_id"]) == ("removed", request["id"])

    story = await backend.timeline_with(
        l3,
        "leadfarm.forecast.removal_requested.v1",
        "leadfarm.forecast.removal_decided.v1",
    )

    async def removed() -> list[dict[str, Any]] | None:
        events = await backend.timeline(l3)
        changes = [e for e in events if e["type"] == "leadfarm.forecast.changed.v1"]
        return changes if [c["data"]["action"] for c in changes] == ["added", "removed"] else None

    from tests.backends import eventually

    changes = await eventually(removed)
    assert changes[1]["data"]["approved_by"] == exec_id
    assert changes[1]["data"]["request_id"] == request["id"]
    assert changes[1]["data"]["reason"] == reason["reason"]
    asked_event = next(e for e in story if e["type"].endswith("removal_requested.v1"))
    assert asked_event["data"]["requested_by"] == bo_id

    # A denial keeps the lead on the forecast, with its reason on record.
    l7 = s.id("L7")
    asked = await http.post(
        f"/audit/v1/forecast/leads/{l7}/removal-requests",
        json={"reason": "no budget this year"},
        headers=manager,
    )
    assert asked.status_code == 201
    assert asked.json()["requested_by"] == manager_id
    denied = await http.post(
        f"/audit/v1/forecast/removal-requests/{asked.json()['id']}/deny",
        json={"reason": "budget is approved for Q2; keep working it"},
        headers=executive,
    )
    assert denied.status_code == 200
    assert denied.json()["status"] == "denied"
    assert (await entry_of(backend, l7))["status"] == "open"
    await backend.timeline_with(l7, "leadfarm.forecast.removal_decided.v1")

    # The lost deal filed its own request; it waits for a sales executive.
    pending = await http.get(
        "/audit/v1/forecast/removal-requests", params={"status": "pending"}, headers=manager
    )
    assert [(r["lead_id"], r["requested_by"], r["reason"]) for r in pending.json()] == [
        (s.id("L2"), "system:opportunity.closed", "opportunity closed lost")
    ]
    # A revoked executive decides nothing.
    assert (await http.delete(f"{roles}/{exec_id}", headers=ADMIN)).status_code == 204
    listed = await http.get(roles, headers=ADMIN)
    assert listed.json()[0]["revoked_at"] is not None
    late = await http.post(
        f"/audit/v1/forecast/removal-requests/{pending.json()[0]['id']}/approve",
        json=decision,
        headers=executive,
    )
    assert late.status_code == 403

    forecast = (await http.get("/audit/v1/forecast", headers=manager)).json()
    total = forecast["total"]
    assert (total["open_leads"], total["open_amount"]) == (2, "2900.00")
    assert (total["pending_removal"], total["removed_leads"]) == (1, 1)
