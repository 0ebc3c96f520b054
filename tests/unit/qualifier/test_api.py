"""The qualifier's HTTP API on the embedded runtime: dry runs, decisions, definitions,
re-evaluation, and what a merge does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from contracts.events import LeadProfile, OpportunityClosed, make_envelope
from qualifier.definitions import DEFAULT_FILE, DefinitionsError
from qualifier.models import decisions, definitions, leads
from services.tables import inbox, outbox
from tests.backends import ADMIN, EmbeddedBackend, eventually

SHIPPED_TEXT = DEFAULT_FILE.read_text()
SHIPPED_VERSION = "2026.03-default-1"
YAML = {**ADMIN, "Content-Type": "application/yaml"}

READY = {
    "email": "dana.lee@acme.example",
    "phone": "+49301234567",
    "company": "Acme GmbH",
    "company_domain": "acme.example",
    "country": "DE",
    "timeframe_days": 30,
    "asked_to_be_contacted": True,
}


def definitions_text(version: str, **replacements: str) -> str:
    text = SHIPPED_TEXT.replace(f'version: "{SHIPPED_VERSION}"', f'version: "{version}"')
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


async def count(backend: EmbeddedBackend, table: Any) -> int:
    async with backend.runtime.units["qualifier"].read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def handled_by_qualifier(backend: EmbeddedBackend, event_id: str) -> bool:
    group = f"{backend.settings.topic_namespace}.qualifier"
    async with backend.runtime.units["qualifier"].read() as conn:
        found = await conn.scalar(
            select(inbox.c.event_id).where(inbox.c.consumer == group, inbox.c.event_id == event_id)
        )
    return found is not None


def types(events: list[dict[str, Any]]) -> list[str]:
    return [str(e["type"]) for e in events]


async def test_evaluate_is_a_dry_run(embedded: EmbeddedBackend) -> None:
    http = embedded.client("qualifier")
    before = [await count(embedded, t) for t in (outbox, decisions, leads, definitions)]

    response = await http.post("/qualifier/v1/evaluate", json=READY, headers=ADMIN)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["outcome"], body["lifecycle"], body["stage"], body["term"]) == (
        "qualified",
        "prospect",
        "sales_qualified",
        "short",
    )
    assert body["definition_version"] == SHIPPED_VERSION
    assert body["model_version"] is None
    criteria = {c["name"]: c for c in body["criteria"]}
    assert criteria["asked_to_be_contacted"] == {
        "name": "asked_to_be_contacted",
        "matched": True,
        "points": 20,
        "detail": "asked to be contacted",
        "kind": "intent",
        "max_points": 20,
    }
    assert criteria["icp_industry"]["matched"] is False

    badge = await http.post(
        "/qualifier/v1/evaluate",
        json={"email": "visitor@acme.example", "company": "Acme", "source_class": "events"},
        headers=ADMIN,
    )
    assert badge.json()["outcome"] == "disqualified"
    assert badge.json()["disqualifiers"] == ["badge_scan_without_interest"]
    assert badge.json()["reason"] == "events badge scan with no stated interest"

    raised = await http.post(
        "/qualifier/v1/evaluate",
        json={
            **READY,
            "asked_to_be_contacted": False,
            "engagement_score": 40,
            "engagements": [{"type": "hand_raise"}],
        },
        headers=ADMIN,
    )
    assert raised.json()["outcome"] == "qualified"

    after = [await count(embedded, t) for t in (outbox, decisions, leads, definitions)]
    assert after == before, "a dry run stores nothing and says nothing"


async def test_evaluate_refuses_bad_input_naming_the_fields(embedded: EmbeddedBackend) -> None:
    response = await embedded.client("qualifier").post(
        "/qualifier/v1/evaluate",
        json={"email": "a@b.example", "timeframe_days": "soon", "source_class": "fair", "x": 1},
        headers=ADMIN,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"timeframe_days", "source_class", "x"}
    assert (
        await embedded.client("qualifier").post("/qualifier/v1/evaluate", json=READY)
    ).status_code == 401


async def test_a_decision_reads_back_with_its_criteria(embedded: EmbeddedBackend) -> None:
    posted = {k: v for k, v in READY.items() if k != "company_domain"}
    lead_id = await embedded.post_lead(**posted, source="website")
    await embedded.timeline_with(lead_id, "leadfarm.lead.qualified.v1")
    response = await embedded.client("qualifier").get(
        f"/qualifier/v1/leads/{lead_id}/decision", headers=ADMIN
    )
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["lead_id"] == lead_id
    assert decision["outcome"] == "qualified"
    assert decision["stage"] == "sales_qualified"
    assert decision["definition_version"] == SHIPPED_VERSION
    assert decision["model_version"] is None
    assert decision["trigger"] == "captured"
    assert decision["score"] == decision["rule_score"] == 64
    matched = sorted(c["name"] for c in decision["criteria"] if c["matched"])
    assert matched == [
        "asked_to_be_contacted",
        "business_email",
        "company",
        "icp_country",
        "reachable",
        "short_term",
        "timeframe",
    ]
    assert sum(c["points"] for c in decision["criteria"]) == 64
    events = await embedded.timeline(lead_id)
    qualified = next(e for e in events if e["type"] == "leadfarm.lead.qualified.v1")
    assert qualified["data"]["decision"]["criteria"] == decision["criteria"]

    missing = await embedded.client("qualifier").get(
        "/qualifier/v1/leads/nobody/decision", headers=ADMIN
    )
    assert missing.status_code == 404


async def test_definitions_get_put_and_history(embedded: EmbeddedBackend) -> None:
    http = embedded.client("qualifier")
    active = (await http.get("/qualifier/v1/definitions", headers=ADMIN)).json()
    assert active["version"] == SHIPPED_VERSION
    assert active["yaml"] == SHIPPED_TEXT
    assert active["origin"] == "file:default.yaml"
    assert active["seq"] == 1, "the start-up file is stored when the service starts"
    assert active["changed_by"] == "file"

    bad = definitions_text("v2", **{"    company: 10": "    company: ten"})
    response = await http.put("/qualifier/v1/definitions", content=bad, headers=YAML)
    assert response.status_code == 422
    line = next(i for i, x in enumerate(bad.splitlines(), 1) if "company: ten" in x)
    problem = response.json()
    assert f"definitions.yaml line {line}: points.fit.company must be a number" in problem["detail"]
    assert problem["errors"] == [
        {
            "field": "points.fit.company",
            "pointer": "/points/fit/company",
            "message": f"definitions.yaml line {line}: points.fit.company must be a number",
            "line": str(line),
        }
    ]

    new = definitions_text("v2", **{"short_term_days: 90": "short_term_days: 60"})
    response = await http.put("/qualifier/v1/definitions", content=new, headers=YAML)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert (stored["version"], stored["changed_by"], stored["origin"]) == ("v2", "env-admin", "api")
    assert stored["changed"] is True
    assert stored["reevaluation"] is None
    assert stored["changed_at"] is not None

    again = await http.put("/qualifier/v1/definitions", content=new, headers=YAML)
    assert again.status_code == 200
    assert again.json()["changed"] is False
    clash = await http.put(
        "/qualifier/v1/definitions", content=new.replace("60", "61", 1), headers=YAML
    )
    assert clash.status_code == 409
    as_json = await http.put(
        "/qualifier/v1/definitions",
        json={"yaml": definitions_text("v3")},
        headers=ADMIN,
    )
    assert as_json.status_code == 201, as_json.text
    wrong_type = await http.put(
        "/qualifier/v1/definitions",
        content=b"<definitions/>",
        headers={**ADMIN, "Content-Type": "application/xml"},
    )
    assert wrong_type.status_code == 415
    no_yaml = await http.put("/qualifier/v1/definitions", json={"text": "x"}, headers=ADMIN)
    assert no_yaml.status_code == 422
    assert {e["field"] for e in no_yaml.json()["errors"]} == {"yaml", "text"}

    active = (await http.get("/qualifier/v1/definitions", headers=ADMIN)).json()
    assert active["version"] == "v3"
    history = (await http.get("/qualifier/v1/definitions/history", headers=ADMIN)).json()
    assert [(h["version"], h["changed_by"], h["active"]) for h in history] == [
        ("v3", "env-admin", True),
        ("v2", "env-admin", False),
        (SHIPPED_VERSION, "file", False),
    ]
    old = await http.get("/qualifier/v1/definitions/history/v2", headers=ADMIN)
    assert old.json()["yaml"] == new
    evaluated = await http.post("/qualifier/v1/evaluate", json=READY, headers=ADMIN)
    assert evaluated.json()["definition_version"] == "v3"


async def test_reevaluating_open_leads_after_a_change(embedded: EmbeddedBackend) -> None:
    await embedded.client("router").post(
        "/router/v1/reps",
        json={"id": "ana", "name": "Ana", "email": "ana@x.example"},
        headers=ADMIN,
    )
    six_months = await embedded.post_lead(
        email="kim@acme.example", company="Acme", timeframe_days=180, asked_to_be_contacted=True
    )
    year = await embedded.post_lead(email="lee@acme.example", company="Acme", timeframe_days=300)
    ready = await embedded.post_lead(
        email="ready@acme.example", company="Acme", timeframe_days=30, asked_to_be_contacted=True
    )
    await embedded.timeline_with(six_months, "leadfarm.lead.deferred.v1")
    await embedded.timeline_with(year, "leadfarm.lead.deferred.v1")
    await embedded.timeline_with(ready, "leadfarm.lead.assigned.v1")

    http = embedded.client("qualifier")
    # A change alone decides nothing again.
    longer = definitions_text("six-months", **{"short_term_days: 90": "short_term_days: 190"})
    response = await http.put("/qualifier/v1/definitions", content=longer, headers=YAML)
    assert response.status_code == 201
    decision = (await http.get(f"/qualifier/v1/leads/{six_months}/decision", headers=ADMIN)).json()
    assert decision["definition_version"] == SHIPPED_VERSION

    response = await http.post("/qualifier/v1/definitions:reevaluate", headers=ADMIN)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["definition_version"] == "six-months"
    assert result["evaluated"] == 2, "only the deferred leads"
    assert result["changed"] == 1
    assert result["changes"] == [
        {"lead_id": six_months, "before": "deferred", "after": "qualified"}
    ]
    assert result["outcomes"] == {"qualified": 1, "deferred": 1}

    events = await embedded.timeline_with(six_months, "leadfarm.lead.assigned.v1")
    assert types(events).count("leadfarm.lead.qualified.v1") == 1
    decision = (await http.get(f"/qualifier/v1/leads/{six_months}/decision", headers=ADMIN)).json()
    assert (decision["definition_version"], decision["trigger"]) == ("six-months", "reevaluated")
    unchanged = (await http.get(f"/qualifier/v1/leads/{year}/decision", headers=ADMIN)).json()
    assert unchanged["definition_version"] == "six-months"
    assert types(await embedded.timeline(year)).count("leadfarm.lead.deferred.v1") == 1

    # Re-evaluating again changes nothing; a PUT with ?reevaluate=true does it in one go.
    again = await http.post("/qualifier/v1/definitions:reevaluate", headers=ADMIN)
    assert (again.json()["evaluated"], again.json()["changed"]) == (1, 0)
    stricter = definitions_text(
        "competitors",
        **{"    - rival-leads.example": "    - rival-leads.example\n    - acme.example"},
    )
    response = await http.put(
        "/qualifier/v1/definitions?reevaluate=true", content=stricter, headers=YAML
    )
    assert response.status_code == 201
    reevaluation = response.json()["reevaluation"]
    assert reevaluation["changes"] == [
        {"lead_id": year, "before": "deferred", "after": "disqualified"}
    ]
    events = await embedded.timeline_with(year, "leadfarm.lead.disqualified.v1")
    disqualified = next(e for e in events if e["type"] == "leadfarm.lead.disqualified.v1")
    assert disqualified["data"]["reason"] == "competitor domain acme.example"
    assert disqualified["data"]["disqualifiers"] == ["competitor"]
    assert disqualified["data"]["definition_version"] == "competitors"
    # Qualified leads are with a rep: never re-evaluated.
    kept = (await http.get(f"/qualifier/v1/leads/{ready}/decision", headers=ADMIN)).json()
    assert kept["definition_version"] == SHIPPED_VERSION
    with_disqualified = await http.post(
        "/qualifier/v1/definitions:reevaluate?include_disqualified=true", headers=ADMIN
    )
    assert with_disqualified.json()["evaluated"] == 1


async def test_a_merge_is_decided_again_unless_the_lead_is_qualified(
    embedded: EmbeddedBackend,
) -> None:
    lead_id = await embedded.post_lead(email="mia@acme.example", company="Acme", timeframe_days=200)
    await embedded.timeline_with(lead_id, "leadfarm.lead.deferred.v1")

    # Same outcome: the merged profile is decided again, nothing is said.
    assert await embedded.post_lead(email="mia@acme.example", need="faster routing") == lead_id
    events = await embedded.timeline_with(lead_id, "leadfarm.lead.merged.v1")
    merged = next(e for e in events if e["type"] == "leadfarm.lead.merged.v1")
    await eventually(lambda: handled_by_qualifier(embedded, str(merged["id"])))
    decision = (
        await embedded.client("qualifier").get(
            f"/qualifier/v1/leads/{lead_id}/decision", headers=ADMIN
        )
    ).json()
    assert (decision["trigger"], decision["outcome"]) == ("merged", "deferred")
    assert any(c["name"] == "need" and c["matched"] for c in decision["criteria"])
    assert types(await embedded.timeline(lead_id)).count("leadfarm.lead.deferred.v1") == 1

    # The outcome changes: said.
    await embedded.post_lead(
        email="mia@acme.example", timeframe_days=20, asked_to_be_contacted=True
    )
    events = await embedded.timeline_with(lead_id, "leadfarm.lead.qualified.v1")

    # Already qualified: a later merge is stored, not decided again.
    await embedded.post_lead(email="mia@acme.example", phone="+4930111222", timeframe_days=300)

    async def third_merge_handled() -> bool:
        merges = [
            e for e in await embedded.timeline(lead_id) if e["type"] == "leadfarm.lead.merged.v1"
        ]
        return len(merges) == 3 and await handled_by_qualifier(embedded, str(merges[-1]["id"]))

    await eventually(third_merge_handled)
    final = types(await embedded.timeline(lead_id))
    assert final.count("leadfarm.lead.qualified.v1") == 1
    assert final.count("leadfarm.lead.deferred.v1") == 1
    async with embedded.runtime.units["qualifier"].read() as conn:
        profile = await conn.scalar(select(leads.c.profile).where(leads.c.lead_id == lead_id))
    assert profile is not None
    assert profile["phone"] == "+4930111222", "the merged profile is kept for re-evaluation"


async def test_only_managers_see_the_qualifier(embedded: EmbeddedBackend) -> None:
    key = await embedded.client("ingest").post(
        "/admin/v1/keys", json={"name": "ana", "scope": "rep", "rep_id": "ana"}, headers=ADMIN
    )
    rep = {"Authorization": f"Bearer {key.json()['key']}"}
    http = embedded.client("qualifier")
    for method, path in (
        ("GET", "/qualifier/v1/definitions"),
        ("GET", "/qualifier/v1/model"),
        ("GET", "/qualifier/v1/definitions/history"),
        ("POST", "/qualifier/v1/definitions:reevaluate"),
    ):
        assert (await http.request(method, path, headers=rep)).status_code == 403, path


async def test_closed_opportunities_teach_the_model_once_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFARM_QUALIFIER_MIN_OUTCOMES", "3")
    monkeypatch.setenv("LEADFARM_QUALIFIER_LEARNED_WEIGHT", "0.5")
    backend = await EmbeddedBackend(tmp_path).start()
    try:
        http = backend.client("qualifier")

        async def close(opportunity: str, won: bool, industry: str) -> None:
            lead_id = str(uuid.uuid4())
            event = OpportunityClosed(
                lead_id=lead_id,
                opportunity_id=opportunity,
                rep_id="ana",
                won=won,
                amount=Decimal("1000"),
                lead=LeadProfile(source="website", industry=industry, country="DE"),
            )
            envelope = make_envelope(event, time=datetime.now(UTC)).to_json()
            await backend.inject("router", lead_id, envelope)

        async def model_with(outcomes: int, wins: int) -> dict[str, Any]:
            async def probe() -> dict[str, Any] | None:
                body: dict[str, Any] = (await http.get("/qualifier/v1/model", headers=ADMIN)).json()
                return body if (body["outcomes"], body["wins"]) == (outcomes, wins) else None

            return await eventually(probe)

        await close("o1", True, "Robotics")
        await close("o2", False, "Hospitality")
        model = await model_with(2, 1)
        assert model["version"] is None
        before = await http.post(
            "/qualifier/v1/evaluate", json={**READY, "industry": "Robotics"}, headers=ADMIN
        )
        assert before.json()["model_version"] is None

        await close("o3", True, "Robotics")
        await close("o3", True, "Robotics")  # the same opportunity again: counted once
        model = await model_with(3, 2)
        assert (model["version"], model["active"]) == ("nb-3", True)
        robotics = await http.post(
            "/qualifier/v1/evaluate", json={**READY, "industry": "Robotics"}, headers=ADMIN
        )
        hospitality = await http.post(
            "/qualifier/v1/evaluate", json={**READY, "industry": "Hospitality"}, headers=ADMIN
        )
        assert robotics.json()["model_version"] == "nb-3"
        assert robotics.json()["rule_score"] == hospitality.json()["rule_score"]
        assert robotics.json()["win_probability"] > hospitality.json()["win_probability"]
        assert robotics.json()["score"] > hospitality.json()["score"]

        # A closed opportunity reopened and lost: its win becomes a loss, still one outcome.
        await close("o3", False, "Robotics")
        model = await model_with(3, 1)
        robotics_counts = next(a for a in model["attributes"] if a["value"] == "robotics")
        assert (robotics_counts["wins"], robotics_counts["losses"]) == (1, 1)

        # A captured lead is decided with the active model and names it.
        lead_id = await backend.post_lead(
            email="ops@robotics.example", company="R AG", industry="Robotics"
        )
        await backend.timeline_with(lead_id, "leadfarm.lead.deferred.v1")
        decision = (await http.get(f"/qualifier/v1/leads/{lead_id}/decision", headers=ADMIN)).json()
        assert decision["model_version"] == "nb-3"
        assert decision["win_probability"] is not None
    finally:
        await backend.stop()


async def test_a_definitions_file_chosen_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_text(definitions_text("ours-1", **{"short_term_days: 90": "short_term_days: 200"}))
    monkeypatch.setenv("LEADFARM_QUALIFIER_DEFINITIONS_FILE", str(ours))
    backend = await EmbeddedBackend(tmp_path / "data").start()
    try:
        http = backend.client("qualifier")
        active = (await http.get("/qualifier/v1/definitions", headers=ADMIN)).json()
        assert (active["version"], active["origin"]) == ("ours-1", "file:ours.yaml")
        lead_id = await backend.post_lead(
            email="kim@acme.example", company="Acme", timeframe_days=180, asked_to_be_contacted=True
        )
        await backend.timeline_with(lead_id, "leadfarm.lead.qualified.v1")
        history = (await http.get("/qualifier/v1/definitions/history", headers=ADMIN)).json()
        assert [(h["version"], h["changed_by"], h["seq"]) for h in history] == [
            ("ours-1", "file", 1)
        ]
    finally:
        await backend.stop()

    ours.write_text("version: broken\npoints:\n  fit:\n    company: many\n")
    with pytest.raises(DefinitionsError, match=r"ours\.yaml line 4: points\.fit\.company must be"):
        EmbeddedBackend(tmp_path / "data")
