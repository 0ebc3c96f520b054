"""Rule conditions as groups of tests on any lead field: every operator, groups and their
nesting, the explanation of each node, and validation that names the offending node."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.events import LeadProfile
from router.conditions import OP_WORDS, OPS
from router.records import RuleRecord
from router.rules import Conditions, choose, enabled_in_order, match

LEAD = LeadProfile(
    source="website",
    email="dana@acme.example",
    country="DE",
    employees=800,
    job_title="Head of Sales Operations",
    product_interest=["Routing", "Audits"],
    asked_to_be_contacted=True,
    answers={"Team size": "120", "Budget": "lots"},
    utm={"utm_source": "LinkedIn", "utm_campaign": "spring-26"},
)


def holds(test: dict[str, Any], lead: LeadProfile = LEAD, score: int | None = 70) -> bool:
    return match(Conditions.model_validate({"all": [test]}), lead, score).matched


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ({"field": "country", "op": "equals", "value": "de"}, True),
        ({"field": "country", "op": "equals", "value": "AT"}, False),
        ({"field": "country", "op": "not_equals", "value": "AT"}, True),
        ({"field": "country", "op": "in", "value": ["AT", "DE"]}, True),
        ({"field": "country", "op": "not_in", "value": ["AT", "DE"]}, False),
        ({"field": "job_title", "op": "contains", "value": "sales"}, True),
        ({"field": "job_title", "op": "not_contains", "value": "sales"}, False),
        ({"field": "job_title", "op": "starts_with", "value": "head of"}, True),
        ({"field": "job_title", "op": "not_starts_with", "value": "VP"}, True),
        ({"field": "employees", "op": "greater_than", "value": 799}, True),
        ({"field": "employees", "op": "greater_than", "value": 800}, False),
        ({"field": "employees", "op": "greater_or_equal", "value": 800}, True),
        ({"field": "employees", "op": "less_than", "value": 800}, False),
        ({"field": "employees", "op": "less_or_equal", "value": 800}, True),
        ({"field": "employees", "op": "in", "value": [10, 800]}, True),
        ({"field": "region", "op": "exists"}, False),
        ({"field": "region", "op": "not_exists"}, True),
        ({"field": "employees", "op": "exists"}, True),
        ({"field": "asked_to_be_contacted", "op": "equals", "value": True}, True),
        ({"field": "has_budget", "op": "equals", "value": False}, False),
        # list fields: any item
        ({"field": "product_interest", "op": "equals", "value": "routing"}, True),
        ({"field": "product_interest", "op": "not_in", "value": ["forecasts"]}, True),
        ({"field": "product_interest", "op": "starts_with", "value": "aud"}, True),
        ({"field": "flags", "op": "exists"}, False),
        # form answers and UTM values, their keys in any case
        ({"field": "answers.team size", "op": "greater_or_equal", "value": 100}, True),
        ({"field": "answers.Team size", "op": "equals", "value": 120}, True),
        ({"field": "answers.Budget", "op": "greater_than", "value": 1}, False),
        ({"field": "answers.Nope", "op": "not_exists"}, True),
        ({"field": "utm.utm_source", "op": "equals", "value": "linkedin"}, True),
        ({"field": "utm.utm_campaign", "op": "starts_with", "value": "spring"}, True),
        ({"field": "utm.utm_medium", "op": "equals", "value": "cpc"}, False),
        ({"field": "utm.utm_medium", "op": "not_equals", "value": "cpc"}, True),
        # the qualifier's score
        ({"field": "score", "op": "greater_or_equal", "value": 70}, True),
        ({"field": "score", "op": "less_than", "value": 70}, False),
    ],
)
def test_each_operator(test: dict[str, Any], expected: bool) -> None:
    assert holds(test) is expected


def test_a_missing_field_fails_every_positive_test_and_holds_every_negation() -> None:
    bare = LeadProfile(source="website")
    assert not holds({"field": "country", "op": "in", "value": ["DE"]}, bare)
    assert not holds({"field": "employees", "op": "less_than", "value": 10}, bare)
    assert not holds({"field": "score", "op": "exists"}, bare, None)
    assert holds({"field": "country", "op": "not_in", "value": ["DE"]}, bare)
    assert holds({"field": "answers.x", "op": "not_contains", "value": "y"}, bare)


def test_groups_nest_and_explain_every_node() -> None:
    conditions = Conditions.model_validate(
        {
            "any": [
                {"field": "utm.utm_source", "op": "equals", "value": "google"},
                {
                    "all": [
                        {"field": "country", "op": "in", "value": ["DE", "AT", "CH"]},
                        {"field": "answers.Team size", "op": "greater_than", "value": 500},
                    ]
                },
            ]
        }
    )
    result = match(conditions, LEAD, None)
    assert not result.matched
    assert result.failed == [
        "utm.utm_source equals 'google': is 'LinkedIn'",
        "answers.Team size greater than 500: is '120'",
    ]
    tree = result.as_json()
    assert tree["held"] == [], "a rule that failed has no reasons to hold"
    inner = tree["conditions"]["any"][1]
    assert (inner["path"], inner["matched"]) == ("conditions.any.1", False)
    assert inner["all"][0] == {
        "path": "conditions.any.1.all.0",
        "matched": True,
        "detail": "country in ['DE', 'AT', 'CH']: is 'DE'",
    }
    big_team = LEAD.model_copy(update={"answers": {"Team size": "900"}})
    assert match(conditions, big_team, None).as_json()["held"] == [
        "country in ['DE', 'AT', 'CH']: is 'DE'",
        "answers.Team size greater than 500: is '900'",
    ]
    assert match(
        conditions, LEAD.model_copy(update={"utm": {"utm_source": "Google"}}), None
    ).matched


EVENTS = {"field": "source_class", "op": "equals", "value": "events"}


def test_choose_is_the_first_rule_that_holds_and_says_why_the_others_failed() -> None:
    class Rule:
        def __init__(self, id: str, pool: str, conditions: dict[str, Any]) -> None:
            self.id, self.name, self.pool = id, id, pool
            self.conditions = Conditions.model_validate(conditions)

    rules = [
        Rule(
            "events",
            "field",
            {"all": [{"field": "source_class", "op": "equals", "value": "events"}]},
        ),
        Rule("named", "dach", {"countries": ["DE"]}),
        Rule("later", "other", {}),
    ]
    choice = choose(rules, LEAD, None, default_pool="everyone")
    assert (choice.rule_id, choice.pool) == ("named", "dach")
    assert choice.checked[0]["failed"] == ["source_class equals 'events': is 'marketing'"]
    assert choice.checked[1] == {"rule": "named", "matched": True, "failed": []}
    nobody = choose(rules[:1], LEAD, None, default_pool="everyone")
    assert (nobody.rule_id, nobody.pool) == ("default", "everyone")


def errors(conditions: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        Conditions.model_validate(conditions)
    return {".".join(map(str, e["loc"])): e["msg"] for e in raised.value.errors()}


def test_validation_names_the_offending_condition() -> None:
    ok = {"field": "country", "op": "equals", "value": "DE"}
    found = errors(
        {
            "any": [
                ok,
                {
                    "all": [
                        {"field": "country", "op": "bigger", "value": 1},
                        {"field": "colour", "op": "equals", "value": "red"},
                        {"field": "country", "op": "greater_than", "value": 3},
                        {"field": "employees", "op": "in", "value": ["many"]},
                        {"field": "country", "op": "exists", "value": "DE"},
                        {"field": "answers", "op": "exists"},
                        {"field": "source_class", "op": "equals", "value": "tv"},
                        {"field": "country", "op": "in", "value": "DE"},
                        {"field": "country", "op": "equals"},
                        {"all": [ok], "field": "country"},
                        {"all": []},
                    ]
                },
            ]
        }
    )
    at = "any.1.all"
    assert set(found) == {
        f"{at}.0.op",
        f"{at}.1.field",
        f"{at}.2.op",
        f"{at}.3.value",
        f"{at}.4.value",
        f"{at}.5.field",
        f"{at}.6.value",
        f"{at}.7.value",
        f"{at}.8",
        f"{at}.9",
        f"{at}.10.all",
    }
    assert "unknown field 'colour'" in found[f"{at}.1.field"]
    assert "greater_than needs a number field; country is text" in found[f"{at}.2.op"]
    assert "employees is a number" in found[f"{at}.3.value"]
    assert "exists takes no value" in found[f"{at}.4.value"]
    assert "answers.<key>" in found[f"{at}.5.field"]
    assert "in needs a list" in found[f"{at}.7.value"]
    assert "equals needs a value" in found[f"{at}.8"]
    assert "either a group" in found[f"{at}.9"]
    assert "either named conditions or a group" in next(
        iter(errors({"countries": ["DE"], "all": [ok]}).values())
    )
    assert "either all or any" in next(iter(errors({"all": [ok], "any": [ok]}).values()))
    deep: dict[str, Any] = ok
    for _ in range(9):
        deep = {"all": [deep]}
    assert "nest at most" in next(iter(errors(deep).values()))


def test_every_operator_has_words_for_the_explanation() -> None:
    assert set(OP_WORDS) == set(OPS)


def test_rules_are_tried_enabled_only_by_position_then_id() -> None:
    def rule(id: str, position: int, enabled: bool = True) -> RuleRecord:
        now = datetime.now(UTC)
        return RuleRecord(
            id=id,
            name=id,
            position=position,
            conditions=Conditions(),
            pool="everyone",
            enabled=enabled,
            created_at=now,
            updated_at=now,
        )

    rules = [rule("b", 10), rule("a", 10), rule("first", 1), rule("off", 0, enabled=False)]
    assert [r.id for r in enabled_in_order(rules)] == ["first", "a", "b"]
