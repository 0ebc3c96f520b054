"""The seeds' cases, table-driven, against the shipped definitions file."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.events import LeadProfile
from qualifier.definitions import DEFAULT_FILE, load_file, parse
from qualifier.definitions.model import Definitions
from qualifier.rules import NurtureEngagement, decide

SHIPPED = load_file(DEFAULT_FILE)


def lead(**fields: Any) -> LeadProfile:
    fields.setdefault("source", "website")
    return LeadProfile(**fields)


# A fitting company that is choosing a supplier: the base of several cases below.
ACME = {
    "email": "dana.lee@acme.example",
    "phone": "+49301234567",
    "first_name": "Dana",
    "last_name": "Lee",
    "company": "Acme GmbH",
    "company_domain": "acme.example",
    "country": "DE",
}


# (case, profile, outcome, lifecycle, stage, term)
CASES: list[tuple[str, dict[str, Any], str, str, str, str]] = [
    (
        "a name and an address only is at most a target",
        {"first_name": "Jo", "last_name": "Kim", "email": "jo@kim-consulting.example"},
        "deferred",
        "target",
        "basic_qualified",
        "long",
    ),
    (
        "a phone number and nothing else is a name",
        {"phone": "+4930555111"},
        "deferred",
        "name",
        "raw",
        "long",
    ),
    (
        "fits and is choosing a supplier (a timeframe) is a suspect",
        {**ACME, "timeframe_days": 200},
        "deferred",
        "suspect",
        "basic_qualified",
        "long",
    ),
    (
        "fits and states a need is a suspect",
        {**ACME, "need": "our reps lose web leads"},
        "deferred",
        "suspect",
        "basic_qualified",
        "long",
    ),
    (
        "asked to be contacted, buying soon: a prospect, sales-qualified, short-term",
        {**ACME, "timeframe_days": 30, "asked_to_be_contacted": True},
        "qualified",
        "prospect",
        "sales_qualified",
        "short",
    ),
    (
        "a six-month timeframe is long-term and goes to nurture",
        {**ACME, "timeframe_days": 180, "asked_to_be_contacted": True},
        "deferred",
        "prospect",
        "sales_qualified",
        "long",
    ),
    (
        "asked to be contacted without a timeframe is not sales-qualified by default",
        {**ACME, "need": "routing", "asked_to_be_contacted": True},
        "deferred",
        "prospect",
        "basic_qualified",
        "long",
    ),
    (
        "asked to be contacted but does not fit stays a name",
        {"phone": "+4930555111", "asked_to_be_contacted": True, "timeframe_days": 10},
        "deferred",
        "name",
        "raw",
        "short",
    ),
    (
        "an events lead that stated an interest is not a badge scan",
        {**ACME, "source_class": "events", "product_interest": ["lead routing"]},
        "deferred",
        "suspect",
        "basic_qualified",
        "long",
    ),
    # The existing flow's leads keep their outcomes.
    (
        "SALES_READY",
        {**ACME, "timeframe_days": 30, "asked_to_be_contacted": True},
        "qualified",
        "prospect",
        "sales_qualified",
        "short",
    ),
    (
        "LONG_TERM",
        {
            "email": "sam@beta.example",
            "company": "Beta Ltd",
            "company_domain": "beta.example",
            "country": "GB",
            "source": "webinar",
            "timeframe_days": 270,
        },
        "deferred",
        "suspect",
        "basic_qualified",
        "long",
    ),
    (
        "no company, a business domain, a year out",
        {"email": "later@beta.example", "company_domain": "beta.example", "timeframe_days": 365},
        "deferred",
        "suspect",
        "basic_qualified",
        "long",
    ),
    (
        "no country, buying in two weeks",
        {
            "email": "pii.check@acme.example",
            "phone": "+49309876543",
            "company": "Acme",
            "company_domain": "acme.example",
            "timeframe_days": 14,
            "asked_to_be_contacted": True,
        },
        "qualified",
        "prospect",
        "sales_qualified",
        "short",
    ),
]


@pytest.mark.parametrize(
    ("profile", "outcome", "lifecycle", "stage", "term"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_the_seeds_cases(
    profile: dict[str, Any], outcome: str, lifecycle: str, stage: str, term: str
) -> None:
    verdict = decide(lead(**profile), SHIPPED)
    d = verdict.decision
    assert (verdict.outcome, d.lifecycle, d.stage, d.term) == (outcome, lifecycle, stage, term)
    assert 0 <= d.score <= 100
    assert d.definition_version == SHIPPED.version
    assert d.model_version is None


# (case, profile, disqualifier, words in the reason)
DISQUALIFIED: list[tuple[str, dict[str, Any], str, str]] = [
    ("a test lead", {**ACME, "is_test": True}, "test_lead", "test lead"),
    (
        "no way to contact",
        {"company": "Acme", "first_name": "Dana"},
        "no_contact",
        "no way to contact",
    ),
    (
        "free mail for B2B",
        {"email": "dana@gmail.com", "company": "Acme", "flags": ["free_mail"]},
        "free_mail",
        "free-mail address (gmail.com)",
    ),
    (
        "a competitor's domain",
        {"email": "spy@rival-leads.example", "company": "Rival"},
        "competitor",
        "competitor domain rival-leads.example",
    ),
    (
        "a competitor's subdomain",
        {"email": "spy@eu.funnelfactory.example", "company": "FF"},
        "competitor",
        "funnelfactory.example",
    ),
    (
        "a student (job title)",
        {**ACME, "job_title": "Marketing Student", "timeframe_days": 30},
        "student_or_job_seeker",
        "job title says 'student'",
    ),
    (
        "a job seeker (form answer)",
        {**ACME, "answers": {"message": "I am looking for a job in sales"}},
        "student_or_job_seeker",
        "looking for a job",
    ),
    (
        "a trade-show badge scan with no stated interest",
        {**ACME, "source_class": "events", "timeframe_days": 400},
        "badge_scan_without_interest",
        "badge scan with no stated interest",
    ),
]


@pytest.mark.parametrize(
    ("profile", "disqualifier", "reason"),
    [c[1:] for c in DISQUALIFIED],
    ids=[c[0] for c in DISQUALIFIED],
)
def test_disqualified_with_a_reason(
    profile: dict[str, Any], disqualifier: str, reason: str
) -> None:
    verdict = decide(lead(**profile), SHIPPED)
    assert verdict.outcome == "disqualified"
    assert disqualifier in verdict.disqualifiers
    assert reason in verdict.reason
    assert verdict.decision.score == 0
    assert verdict.decision.stage == "raw"
    hit = [c for c in verdict.decision.criteria if c.kind == "disqualifier"]
    assert [c.name for c in hit] == verdict.disqualifiers


def test_a_role_word_inside_another_word_does_not_disqualify() -> None:
    verdict = decide(lead(**ACME, job_title="International Sales Director"), SHIPPED)
    assert verdict.outcome != "disqualified", verdict.reason  # "intern" in "International"


def test_a_rep_sourced_lead_qualifies_the_same_way_as_a_marketing_one() -> None:
    base = {**ACME, "timeframe_days": 30, "asked_to_be_contacted": True}
    marketing = decide(lead(**base), SHIPPED)
    rep = decide(lead(**base, source_class="rep_prospecting", sourced_by_rep_id="ana"), SHIPPED)
    assert rep.outcome == marketing.outcome == "qualified"
    assert rep.decision == marketing.decision
    slower = {**ACME, "timeframe_days": 200}
    assert (
        decide(
            lead(**slower, source_class="rep_prospecting", sourced_by_rep_id="ana"), SHIPPED
        ).decision
        == decide(lead(**slower), SHIPPED).decision
    )


def test_each_criterion_is_reported_with_its_points() -> None:
    verdict = decide(
        lead(
            **ACME,
            industry="Computer Software",
            employees=250,
            job_title="VP Sales",
            product_interest=["Lead Routing"],
            need="speed to lead",
            has_budget=True,
            timeframe_days=30,
            asked_to_be_contacted=True,
        ),
        SHIPPED,
    )
    by_name = {c.name: c for c in verdict.decision.criteria}
    assert all(c.matched for n, c in by_name.items() if n != "engagement"), [
        n for n, c in by_name.items() if not c.matched
    ]
    assert by_name["icp_industry"].points == 8
    assert by_name["icp_title"].detail == "job title 'VP Sales' shows seniority (vp)"
    assert by_name["engagement"].matched is False
    assert by_name["engagement"].points == 0
    assert by_name["engagement"].max_points == 10
    assert verdict.decision.score == verdict.decision.rule_score == 100
    assert {c.kind for c in verdict.decision.criteria} == {"basic", "fit", "intent"}


def test_score_is_fit_plus_intent_and_failed_criteria_score_nothing() -> None:
    verdict = decide(lead(**ACME, timeframe_days=200), SHIPPED)
    matched = [c for c in verdict.decision.criteria if c.matched]
    failed = [c for c in verdict.decision.criteria if not c.matched]
    assert verdict.decision.score == sum(c.points for c in matched)
    assert all(c.points == 0 for c in failed)
    # company 10 + business email 10 + country 4 + timeframe 10
    assert verdict.decision.score == 34


def test_nurture_engagement_adds_intent_and_a_hand_raise_counts_as_asking() -> None:
    base = lead(**ACME, timeframe_days=45)
    before = decide(base, SHIPPED)
    assert before.outcome == "deferred"
    warmed = decide(base, SHIPPED, engagement=NurtureEngagement(50.0, ()))
    assert warmed.decision.score == before.decision.score + 5
    raised = decide(
        base, SHIPPED, engagement=NurtureEngagement(80.0, ({"type": "demo_request", "at": "x"},))
    )
    assert raised.outcome == "qualified"
    asked = next(c for c in raised.decision.criteria if c.name == "asked_to_be_contacted")
    assert asked.matched
    assert "demo_request" in asked.detail


def test_the_definitions_decide_not_the_code() -> None:
    strict: Definitions = parse(
        DEFAULT_FILE.read_text()
        .replace('version: "2026.03-default-1"', "version: strict-1")
        .replace(
            "requires: [asked_to_be_contacted, timeframe]",
            "requires: [asked_to_be_contacted, timeframe, budget]",
        )
        .replace("short_term_days: 90", "short_term_days: 20")
        .replace("    any_of: [company, business_email]", "    all_of: [company, icp_industry]")
    )
    ready = {**ACME, "timeframe_days": 30, "asked_to_be_contacted": True}
    assert decide(lead(**ready), SHIPPED).outcome == "qualified"
    verdict = decide(lead(**ready), strict)
    assert verdict.decision.lifecycle == "name"  # no ICP industry: not a target here
    assert verdict.decision.definition_version == "strict-1"
    fitting = {**ready, "industry": "SaaS", "has_budget": True}
    verdict = decide(lead(**fitting), strict)
    assert (verdict.decision.stage, verdict.decision.term) == ("sales_qualified", "long")
    assert verdict.outcome == "deferred"
    assert decide(lead(**{**fitting, "timeframe_days": 15}), strict).outcome == "qualified"
