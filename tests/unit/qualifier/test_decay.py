"""Scores that age: stated intent halves every `decay.intent_half_life` since the last intent
signal; the decision records the raw and the decayed score and the half-life, and says the
decay in its reasons. The definitions refuse a half-life that is not a positive duration,
naming the field; without one nothing decays."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from contracts.events import LeadProfile
from qualifier.definitions import DEFAULT_FILE, DefinitionsError, parse
from qualifier.rules import NurtureEngagement, decide
from services.decay import remaining
from tests.backends import ADMIN, EmbeddedBackend

YAML = {**ADMIN, "Content-Type": "text/yaml"}
SHIPPED = DEFAULT_FILE.read_text()
DECAYING = SHIPPED.replace('version: "2026.03-default-1"', "version: decaying") + (
    "decay:\n  intent_half_life: 30 days\n"
)
# Fit: company 10 + business email 10 + country 4 = 24. Stated intent: asked to be
# contacted 20 + a timeframe within the year 10 + product interest 5 + need 5 = 40.
LEAD = LeadProfile(
    email="kim@acme.example",
    company="Acme",
    country="DE",
    timeframe_days=180,
    asked_to_be_contacted=True,
    need="reps lose web leads",
    product_interest=["routing"],
    source="website",
)


def test_the_share_left_halves_every_half_life() -> None:
    assert remaining(0, 30) == 1.0
    assert remaining(30, 30) == 0.5
    assert remaining(60, 30) == 0.25
    assert remaining(-5, 30) == 1.0, "a clock behind the signal's is no age"


@pytest.mark.parametrize(
    ("days", "intent", "score", "reason"),
    [
        (0, 40, 64, None),
        (30, 20, 44, "intent 40 -> 20 after 30 days, half-life 30 days"),
        (60, 10, 34, "intent 40 -> 10 after 60 days, half-life 30 days"),
    ],
)
def test_stated_intent_halves_every_half_life(
    days: int, intent: int, score: int, reason: str | None
) -> None:
    verdict = decide(LEAD, parse(DECAYING), intent_age=timedelta(days=days))
    decision = verdict.decision
    assert decision.score == decision.rule_score == score
    assert decision.intent_decay is not None
    assert decision.intent_decay.model_dump() == {
        "half_life_days": 30.0,
        "age_days": float(days),
        "intent_points": 40,
        "decayed_intent_points": intent,
        "raw_score": 64,
    }
    decay_reasons = [r for r in decision.reasons if r.startswith("intent ")]
    assert decay_reasons == ([reason] if reason else [])
    criteria = {c.name: c.points for c in decision.criteria if c.matched}
    assert criteria["asked_to_be_contacted"] == 20, "criteria keep the points as stated"


def test_engagement_points_do_not_decay_again() -> None:
    """Nurture ages its engagement score itself; only the stated intent decays here."""
    text = DECAYING.replace("version: decaying", "version: engaged")
    verdict = decide(
        LEAD, parse(text), engagement=NurtureEngagement(100.0), intent_age=timedelta(days=30)
    )
    engagement = next(c for c in verdict.decision.criteria if c.name == "engagement")
    assert engagement.points == 10
    assert verdict.decision.score == 54  # 24 fit + 20 decayed intent + 10 engagement


def test_without_a_half_life_nothing_decays() -> None:
    verdict = decide(LEAD, parse(SHIPPED), intent_age=timedelta(days=365))
    assert verdict.decision.score == 64
    assert verdict.decision.intent_decay is None
    assert not [r for r in verdict.decision.reasons if r.startswith("intent ")]


@pytest.mark.parametrize(
    ("written", "days"),
    [("30", 30.0), ("30 days", 30.0), ("1 day", 1.0), ("6 weeks", 42.0), ("36 hours", 1.5)],
)
def test_a_half_life_is_days_or_a_duration_with_a_unit(written: str, days: float) -> None:
    text = SHIPPED + f"decay:\n  intent_half_life: {written}\n"
    assert parse(text).intent_half_life_days == days


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("0", "must be positive"),
        ("-30 days", "must be positive"),
        ("30 months", "must be a positive number of days or a duration such as 30 days"),
        ("soon", "must be a positive number of days or a duration such as 30 days"),
        ("99999", "must be at most 3650 days"),
    ],
)
def test_a_half_life_that_is_not_a_positive_duration_is_refused(written: str, problem: str) -> None:
    text = SHIPPED + f"decay:\n  intent_half_life: {written}\n"
    line = len(text.splitlines())
    with pytest.raises(DefinitionsError) as caught:
        parse(text)
    (message,) = caught.value.lines()
    assert message.startswith(f"definitions.yaml line {line}: decay.intent_half_life {problem}")


async def test_a_put_with_a_bad_half_life_names_the_field(embedded: EmbeddedBackend) -> None:
    http = embedded.client("qualifier")
    text = DECAYING.replace("30 days", "0 days")
    response = await http.put("/qualifier/v1/definitions", content=text, headers=YAML)
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "decay.intent_half_life"
    assert error["pointer"] == "/decay/intent_half_life"
    assert "must be positive" in error["message"]


async def test_a_dry_run_shows_the_decay_since_a_given_signal(embedded: EmbeddedBackend) -> None:
    http = embedded.client("qualifier")
    response = await http.put("/qualifier/v1/definitions", content=DECAYING, headers=YAML)
    assert response.status_code == 201, response.text
    now = embedded.runtime.units["qualifier"].clock.now()
    body = {**LEAD.model_dump(mode="json"), "intent_at": (now - timedelta(days=30)).isoformat()}
    response = await http.post("/qualifier/v1/evaluate", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["score"] == 44
    assert decision["intent_decay"]["raw_score"] == 64
    assert "intent 40 -> 20 after 30 days, half-life 30 days" in decision["reasons"]

    naive = {**body, "intent_at": datetime(2026, 1, 1).isoformat()}
    response = await http.post("/qualifier/v1/evaluate", json=naive, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "intent_at"
