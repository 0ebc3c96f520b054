"""A lead's profile under repeated deliveries: merged, and bounded (ingest.service)."""

from __future__ import annotations

from contracts.events import LeadProfile
from ingest import service


def delivery(n: int, **fields: object) -> LeadProfile:
    return LeadProfile.model_validate({"email": "p@bound.example", "source": f"s{n}", **fields})


def test_merging_keeps_the_first_values_in_their_order_and_stops_at_the_caps() -> None:
    lead = delivery(0, answers={"Size": "10"}, utm={"utm_source": "ads"})
    for n in range(1, 40):
        lead = service.merge_profiles(
            lead,
            delivery(
                n,
                answers={"Size": "999", **{f"Q{n}.{i}": "a" for i in range(20)}},
                product_interest=[f"Product {n}.{i}" for i in range(5)],
                utm={"utm_source": "other", **{f"utm_x{n}_{i}": "v" for i in range(3)}},
            ),
        )
    assert len(lead.answers) == service.MAX_ANSWERS
    assert list(lead.answers.items())[:2] == [("Size", "10"), ("Q1.0", "a")]
    assert len(lead.product_interest) == service.MAX_PRODUCT_INTEREST
    assert lead.product_interest[0] == "Product 1.0"
    assert len(lead.utm) == service.MAX_UTM
    assert lead.utm["utm_source"] == "ads"
    assert lead.flags.count(service.TRUNCATED) == 1
    assert lead.source == "s0"


def test_a_profile_within_the_caps_is_left_alone() -> None:
    small = delivery(0, answers={"a": "b"}, product_interest=["CRM"])
    assert service.bounded(small) is small
    long_names = delivery(1, product_interest=["x" * 1_500, "y" * 1_500])
    assert service.bounded(long_names).product_interest == ["x" * 1_500]
