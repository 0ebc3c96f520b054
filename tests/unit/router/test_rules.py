"""Rule conditions on a lead's attributes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.events import LeadProfile
from router.rules import Conditions, match

LEAD = LeadProfile(
    source="website",
    country="DE",
    region="BY",
    industry="Manufacturing",
    employees=800,
    source_class="events",
    product_interest=["Routing", "Audits"],
    language="de-DE",
)


def test_every_condition_that_holds_matches() -> None:
    conditions = Conditions(
        countries=["de", "AT"],
        regions=["by"],
        industries=["manufacturing"],
        employees_min=500,
        employees_max=5000,
        source_classes=["events", "referrals"],
        product_interest=["routing"],
        score_min=60,
        languages=["de"],
    )
    assert match(conditions, LEAD, 75).matched
    assert match(Conditions(), LEAD, None).matched, "no conditions: every lead"


@pytest.mark.parametrize(
    ("conditions", "score", "failed"),
    [
        (Conditions(countries=["FR"]), 75, "country DE not in ['FR']"),
        (Conditions(regions=["be"]), 75, "region BY not in ['be']"),
        (Conditions(employees_max=100), 75, "employees 800 not in 0..100"),
        (Conditions(source_classes=["marketing"]), 75, "source class events"),
        (Conditions(product_interest=["forecasts"]), 75, "product interest"),
        (Conditions(score_min=80), 75, "score 75 not in 80..100"),
        (Conditions(score_min=80), None, "score unknown"),
        (Conditions(languages=["en"]), 75, "language de-DE not in ['en']"),
    ],
)
def test_a_condition_that_fails_says_why(
    conditions: Conditions, score: int | None, failed: str
) -> None:
    result = match(conditions, LEAD, score)
    assert not result.matched
    assert failed in result.failed[0]


def test_a_missing_attribute_fails_its_condition() -> None:
    bare = LeadProfile(source="website")
    assert not match(Conditions(countries=["DE"]), bare, None).matched
    assert not match(Conditions(employees_min=1), bare, None).matched


def test_nonsense_conditions_are_refused() -> None:
    with pytest.raises(ValidationError, match="alpha-2"):
        Conditions(countries=["Germany"])
    with pytest.raises(ValidationError, match="employees_min is above"):
        Conditions(employees_min=10, employees_max=5)
    with pytest.raises(ValidationError):
        Conditions.model_validate({"colour": ["blue"]})
