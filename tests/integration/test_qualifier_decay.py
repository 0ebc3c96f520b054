"""Scores that age, on both runtimes: a long-term lead's stated intent halves every
half-life since its last intent signal. Re-scored later (a re-evaluation, nurture sending
it back) its decision has the decayed score, the raw one and the half-life, and says the
decay in its reasons; a new form from the person makes the intent whole again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from qualifier.definitions import DEFAULT_FILE
from services.clock import ManualClock
from tests.backends import ADMIN, Backend, ClusterBackend, EmbeddedBackend, eventually

YAML = {**ADMIN, "Content-Type": "text/yaml"}
DEFERRED = "leadfarm.lead.deferred.v1"
RECYCLED = "leadfarm.lead.recycled.v1"
DECAYING = DEFAULT_FILE.read_text().replace('version: "2026.03-default-1"', "version: decaying") + (
    "decay:\n  intent_half_life: 30 days\n"
)
# Fit 24 (company, business email, country); stated intent 40 (asked to be contacted,
# buying within the year, a product interest, a need); long term, so deferred to nurture.
LONG_TERM_PROSPECT = {
    "email": "kim@acme.example",
    "company": "Acme",
    "country": "DE",
    "source": "website",
    "timeframe_days": 180,
    "asked_to_be_contacted": True,
    "need": "reps lose web leads",
    "product_interest": ["routing"],
}


@pytest.fixture(params=["embedded", pytest.param("cluster", marks=pytest.mark.integration)])
async def aged(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Backend, ManualClock]]:
    clock = ManualClock()
    backend: Backend
    if request.param == "embedded":
        backend = await EmbeddedBackend(tmp_path, clock=clock, timer_poll_interval_s=3600).start()
    else:
        database = request.getfixturevalue("pg_database")
        kafka = request.getfixturevalue("kafka")
        backend = await ClusterBackend(
            database.url, kafka, clock=clock, timer_poll_interval_s=3600, data_dir=tmp_path
        ).start()
    yield backend, clock
    await backend.stop()


async def decision_by(backend: Backend, lead_id: str, trigger: str) -> dict[str, Any]:
    http = backend.client("qualifier")

    async def probe() -> dict[str, Any] | None:
        response = await http.get(f"/qualifier/v1/leads/{lead_id}/decision", headers=ADMIN)
        body: dict[str, Any] = response.json()
        return body if response.status_code == 200 and body["trigger"] == trigger else None

    return await eventually(probe, timeout=60)


async def test_a_long_term_lead_rescored_later_shows_the_decay(
    aged: tuple[Backend, ManualClock],
) -> None:
    backend, clock = aged
    qualifier = backend.client("qualifier")
    response = await qualifier.put("/qualifier/v1/definitions", content=DECAYING, headers=YAML)
    assert response.status_code == 201, response.text

    lead_id = await backend.post_lead(**LONG_TERM_PROSPECT)
    await backend.timeline_with(lead_id, DEFERRED, "leadfarm.nurture.enrolled.v1")
    captured = await decision_by(backend, lead_id, "captured")
    assert captured["score"] == 64
    assert captured["intent_decay"] == {
        "half_life_days": 30.0,
        "age_days": 0.0,
        "intent_points": 40,
        "decayed_intent_points": 40,
        "raw_score": 64,
    }

    clock.advance(timedelta(days=30))
    response = await qualifier.post("/qualifier/v1/definitions:reevaluate", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["evaluated"] >= 1
    reevaluated = await decision_by(backend, lead_id, "reevaluated")
    assert (reevaluated["outcome"], reevaluated["score"]) == ("deferred", 44)
    assert reevaluated["intent_decay"]["raw_score"] == 64
    assert reevaluated["intent_decay"]["decayed_intent_points"] == 20
    assert "intent 40 -> 20 after 30 days, half-life 30 days" in reevaluated["reasons"]

    # Thirty days on, engagement in nurture (no hand raise) sends the lead back: the
    # engagement is fresh, the stated intent is now two half-lives old.
    clock.advance(timedelta(days=30))
    nurture = backend.client("nurture")
    for kind in ("attended_webinar", "replied", "clicked"):
        response = await nurture.post(
            "/nurture/v1/engagements", json={"lead_id": lead_id, "type": kind}, headers=ADMIN
        )
        assert response.status_code == 201, response.text
    assert response.json()["recycled"] is True
    recycled = await decision_by(backend, lead_id, "recycled")
    assert recycled["score"] == 37  # fit 24 + intent 10 + engagement 3 (26 of 100)
    assert recycled["intent_decay"]["age_days"] == 60.0
    assert recycled["intent_decay"]["decayed_intent_points"] == 10
    assert "intent 40 -> 10 after 60 days, half-life 30 days" in recycled["reasons"]
    await backend.timeline_with(lead_id, RECYCLED)

    async def said_again() -> list[dict[str, Any]] | None:
        deferred = [e for e in await backend.timeline(lead_id) if e["type"] == DEFERRED]
        return deferred if len(deferred) == 2 else None

    said = (await eventually(said_again, timeout=60))[-1]["data"]["decision"]
    assert said["score"] == recycled["score"]
    assert said["intent_decay"] == recycled["intent_decay"], "the event carries the decay"

    # The person fills in a form again: a new intent signal, the intent is whole.
    await backend.post_lead(**LONG_TERM_PROSPECT)
    merged = await decision_by(backend, lead_id, "merged")
    assert merged["score"] == 67
    assert merged["intent_decay"]["age_days"] == 0.0
    assert merged["intent_decay"]["decayed_intent_points"] == 40
    assert not [r for r in merged["reasons"] if r.startswith("intent ")]
