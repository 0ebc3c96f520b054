"""Learning from closed opportunities: naive-Bayes win frequencies blended into the score."""

from __future__ import annotations

from typing import Any

from contracts.events import LeadProfile
from qualifier.definitions import DEFAULT_FILE, load_file
from qualifier.learning import Model, employee_band, features, seniority, train
from qualifier.rules import decide

SHIPPED = load_file(DEFAULT_FILE)


def lead(industry: str, **fields: Any) -> LeadProfile:
    return LeadProfile(
        email=f"buyer@{industry.lower()}.example",
        company=f"{industry} Co",
        country="DE",
        industry=industry,
        timeframe_days=200,
        source="website",
        **fields,
    )


def outcomes(industry: str, wins: int, losses: int) -> list[tuple[LeadProfile, bool]]:
    return [(lead(industry), True)] * wins + [(lead(industry), False)] * losses


# Robotics leads win four times as often as hospitality leads (80% against 20%).
SYNTHETIC = outcomes("Robotics", 16, 4) + outcomes("Hospitality", 4, 16)


def test_a_winning_industry_scores_higher_after_training_not_before() -> None:
    robotics, hospitality = lead("Robotics"), lead("Hospitality")
    untrained = Model()
    assert untrained.version is None
    assert (
        decide(robotics, SHIPPED, untrained).decision.score
        == decide(hospitality, SHIPPED, untrained).decision.score
    )

    too_few = train(SYNTHETIC[:10] + SYNTHETIC[20:29], min_outcomes=20)
    assert too_few.outcomes == 19
    assert too_few.version is None
    a, b = decide(robotics, SHIPPED, too_few), decide(hospitality, SHIPPED, too_few)
    assert a.decision.score == b.decision.score == a.decision.rule_score
    assert a.decision.model_version is None
    assert a.decision.win_probability is None

    trained = train(SYNTHETIC, min_outcomes=20, weight=0.3)
    assert trained.version == "nb-40"
    a, b = decide(robotics, SHIPPED, trained), decide(hospitality, SHIPPED, trained)
    assert a.decision.rule_score == b.decision.rule_score
    assert a.decision.model_version == b.decision.model_version == "nb-40"
    assert a.decision.win_probability is not None
    assert b.decision.win_probability is not None
    assert a.decision.win_probability > 0.7 > 0.3 > b.decision.win_probability
    assert a.decision.score - b.decision.score >= 10, (a.decision.score, b.decision.score)
    rule = a.decision.rule_score
    assert rule is not None
    expected = round(0.7 * rule + 0.3 * 100 * a.decision.win_probability)
    assert abs(a.decision.score - expected) <= 1


def test_the_lift_names_the_winning_attribute_and_its_outcomes() -> None:
    model = train(SYNTHETIC)
    top = model.lifts()[0]
    assert (top.attribute, top.value, top.wins, top.losses) == ("industry", "robotics", 16, 4)
    assert top.outcomes == 20
    assert top.lift > 1.5
    bottom = model.lifts()[-1]
    assert (bottom.attribute, bottom.value) == ("industry", "hospitality")
    assert bottom.lift < 0.5


def test_weight_zero_turns_learning_off() -> None:
    model = train(SYNTHETIC, weight=0.0)
    assert not model.active
    assert model.version is None
    assert decide(lead("Robotics"), SHIPPED, model).decision.model_version is None


def test_forgetting_an_outcome_undoes_it() -> None:
    model = train(SYNTHETIC)
    again = model.with_outcome(lead("Robotics"), True).with_outcome(lead("Robotics"), True, -1)
    assert again.total == model.total
    assert dict(again.counts) == dict(model.counts)


def test_the_attributes_learned() -> None:
    profile = LeadProfile(
        source="x",
        industry="  Computer   Software ",
        employees=120,
        country="de",
        source_class="events",
        job_title="Head of Sales Operations",
        product_interest=["Lead Routing", "lead routing", "CRM"],
    )
    assert features(profile) == {
        "industry": ["computer software"],
        "employee_band": ["50-249"],
        "country": ["DE"],
        "source_class": ["events"],
        "seniority": ["director"],
        "product_interest": ["crm", "lead routing"],
    }
    assert features(LeadProfile(source="x")) == {"source_class": ["marketing"]}
    assert [employee_band(n) for n in (None, 0, 1, 10, 5000)] == [
        None,
        None,
        "1-9",
        "10-49",
        "5000+",
    ]
    assert [seniority(t) for t in ("CEO", "VP Marketing", "Sales Manager", "Analyst", None)] == [
        "c_level",
        "vp",
        "manager",
        "individual",
        None,
    ]
