"""A lead's story in short, and the reads the `leadfarm` CLI lists from, on both runtimes:
`GET /audit/v1/leads/{id}/timeline/summary` tells each event in a line (no contact data),
`GET /audit/v1/leads` lists leads, `GET /router/v1/rules/{id}` shows one rule."""

from __future__ import annotations

from tests.backends import ADMIN, Backend
from tests.integration.test_flow import SALES_READY, add_rep


async def test_the_timeline_in_short_and_the_lead_list(backend: Backend) -> None:
    await add_rep(backend)
    lead_id = await backend.post_lead(**SALES_READY)
    full = await backend.timeline_with(lead_id, "leadfarm.lead.assigned.v1")
    audit = backend.client("audit")

    response = await audit.get(f"/audit/v1/leads/{lead_id}/timeline/summary", headers=ADMIN)
    assert response.status_code == 200, response.text
    lines = response.json()["events"]
    assert len(lines) >= len(full)
    told = {line["event"]: line for line in lines}
    assert told["lead.received"]["what"] == "received from source website (api)"
    assert told["lead.received"]["who"] == "ingest"
    assert told["lead.qualified"]["what"].startswith("qualified as sales_qualified (short-term")
    assert told["lead.assigned"]["what"].startswith("assigned to Ana (ana) from pool")
    assert told["lead.assigned"]["who"] == "router"
    for private in ("Dana", "Lee", "Acme", "1234567"):
        assert private not in response.text
    missing = await audit.get("/audit/v1/leads/nope/timeline/summary", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"

    listed = await audit.get("/audit/v1/leads", params={"stage": "sales_qualified"}, headers=ADMIN)
    assert listed.status_code == 200, listed.text
    [row] = [r for r in listed.json() if r["lead_id"] == lead_id]
    assert (row["stage"], row["rep_id"], row["source"]) == ("sales_qualified", "ana", "website")
    assert "Acme" not in listed.text
    others = await audit.get("/audit/v1/leads", params={"rep_id": "bo"}, headers=ADMIN)
    assert others.json() == []
    bad = await audit.get("/audit/v1/leads", params={"stage": "hot", "limit": 0}, headers=ADMIN)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"query.stage", "query.limit"}


async def test_one_rule_can_be_read(backend: Backend) -> None:
    router = backend.client("router")
    assert (await router.put("/router/v1/pools/dach", json={}, headers=ADMIN)).status_code == 201
    rule = {"pool": "dach", "conditions": {"countries": ["DE"]}}
    assert (await router.put("/router/v1/rules/de", json=rule, headers=ADMIN)).status_code == 201
    shown = await router.get("/router/v1/rules/de", headers=ADMIN)
    assert shown.status_code == 200, shown.text
    assert shown.json()["conditions"]["countries"] == ["DE"]
    missing = await router.get("/router/v1/rules/nosuch", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "There is no rule 'nosuch'."
