"""Reps record who changed them, on both runtimes, and a manager can suspend a rep with a
reason: the rep says who and why, the router says `rep.suspended` (as the compliance job
does, with the manager's key), the next lead goes to someone else, and reinstating records
who did it."""

from __future__ import annotations

from typing import Any

import orjson

from tests.backends import ADMIN, Backend, eventually
from tests.integration.test_flow import SALES_READY
from tests.integration.test_router_rules import manager

SUSPENDED = "leadfarm.rep.suspended.v1"
ASSIGNED = "leadfarm.lead.assigned.v1"


async def test_a_manager_suspends_a_rep_with_a_reason_and_reps_say_who_changed_them(
    backend: Backend,
) -> None:
    http = backend.client("router")
    mia, mia_id = await manager(backend, "Mia (sales ops)")
    for rep in ("ana", "bo"):
        body = {"id": rep, "name": rep.title(), "email": f"{rep}@example.com"}
        made = await http.post("/router/v1/reps", json=body, headers=mia)
        assert made.status_code == 201, made.text
        assert made.json()["changed_by"] == {"key_id": mia_id, "name": "Mia (sales ops)"}
    patched = await http.patch("/router/v1/reps/ana", json={"weight": 3}, headers=ADMIN)
    assert patched.json()["changed_by"] == {"key_id": "env-admin", "name": "LEADFARM_ADMIN_KEY"}

    missing = await http.post("/router/v1/reps/bo/suspend", json={"reason": " "}, headers=mia)
    assert missing.status_code == 422, missing.text
    assert [e["field"] for e in missing.json()["errors"]] == ["reason"]
    reason = "on parental leave from Monday; leads to Ana"
    suspended = await http.post("/router/v1/reps/bo/suspend", json={"reason": reason}, headers=mia)
    assert suspended.status_code == 200, suspended.text
    bo = suspended.json()
    assert (bo["suspended"], bo["suspended_reason"]) == (True, reason)
    assert bo["suspended_by"] == bo["changed_by"] == {"key_id": mia_id, "name": "Mia (sales ops)"}
    again = await http.post("/router/v1/reps/bo/suspend", json={"reason": "x"}, headers=mia)
    assert again.status_code == 409
    assert reason in again.json()["detail"]

    async def said() -> dict[str, Any] | None:
        for record in await backend.records("router"):
            event = orjson.loads(record.value)
            if event["type"] == SUSPENDED:
                data: dict[str, Any] = event["data"]
                return data
        return None

    event = await eventually(said)
    assert (event["rep_id"], event["reason"], event["by"], event["compliance"]) == (
        "bo",
        reason,
        mia_id,
        1.0,
    )
    for n in range(2):
        lead = {**SALES_READY, "email": f"buyer{n}@acme.example", "phone": f"+4930555{n:04d}"}
        events = await backend.timeline_with(await backend.post_lead(**lead), ASSIGNED)
        assert next(e for e in events if e["type"] == ASSIGNED)["data"]["rep_id"] == "ana"

    back = await http.post("/router/v1/reps/bo/reinstate", json={"reason": "back"}, headers=ADMIN)
    assert back.status_code == 200, back.text
    assert (back.json()["suspended"], back.json()["suspended_by"]) == (False, None)
    assert back.json()["changed_by"]["key_id"] == "env-admin"
