"""The reports (audit.reports, the metrics the API serves) as pure functions, each against a
small hand-computed fixture (the whole pipeline, events to API, is checked against
tests/scenarios/audit.py in tests/integration/test_audit_metrics.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from audit.reports import facts, marketing, sales
from audit.reports.facts import AssignmentFact, AuditFact, DealFact, LeadFact, SpendFact

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, ISO week 2026-W10


def minutes(n: float) -> datetime:
    return T + timedelta(minutes=n)


def lead(lead_id: str, source: str = "web", cls: str = "marketing", **kw: object) -> LeadFact:
    return LeadFact(lead_id, source, cls, kw.pop("cohort_at", T), **kw)  # type: ignore[arg-type]


# Four leads: a won web lead, a sales-qualified web lead nobody touched, a raw event lead,
# a lost referral.
A = lead(
    "a",
    stage_rank=2,
    rep_id="ana",
    assigned_at=minutes(1),
    first_touch_due_at=minutes(6),
    first_touch_at=minutes(4),
    accepted_at=minutes(30),
    opportunity_at=minutes(60),
    won_at=T + timedelta(days=12),
)
B = lead("b", stage_rank=2, rep_id="bo", assigned_at=minutes(0), first_touch_due_at=minutes(5))
C = lead("c", "expo", "events")
D = lead(
    "d",
    "partner",
    "referrals",
    stage_rank=1,
    rep_id="bo",
    assigned_at=minutes(0),
    first_touch_due_at=minutes(5),
    first_touch_at=minutes(9),
    lost_at=T + timedelta(days=3),
)
LEADS = [A, B, C, D]
ASSIGNMENTS = [
    AssignmentFact("1", "a", "ana", minutes(1), minutes(6), first_touch_at=minutes(4)),
    AssignmentFact("2", "b", "bo", minutes(0), minutes(5), breached=True),
    AssignmentFact("3", "d", "bo", minutes(0), minutes(5), first_touch_at=minutes(9)),
    # Still within its deadline at NOW: pending for the SLA.
    AssignmentFact("4", "e", "ana", minutes(100), minutes(105)),
]
NOW = minutes(102)


def test_the_funnel_counts_each_stage_reached_and_never_widens() -> None:
    report = marketing.funnel(LEADS, "source_class")
    assert report.rows == [
        {"source_class": "events", "raw": 1, "basic_qualified": 0, "sales_qualified": 0,
         "accepted": 0, "opportunity": 0, "won": 0, "disqualified": 0},
        {"source_class": "marketing", "raw": 2, "basic_qualified": 2, "sales_qualified": 2,
         "accepted": 1, "opportunity": 1, "won": 1, "disqualified": 0},
        # A lost deal was an opportunity, so it was accepted and sales-qualified.
        {"source_class": "referrals", "raw": 1, "basic_qualified": 1, "sales_qualified": 1,
         "accepted": 1, "opportunity": 1, "won": 0, "disqualified": 0},
    ]  # fmt: skip
    assert report.total is not None
    assert [report.total[s] for s in facts.STAGES] == [4, 3, 3, 2, 2, 1]
    assert marketing.funnel(LEADS, "source").rows[0]["source_class"] == "events"
    won_only = lead("w", won_at=T)
    assert won_only.reached() == set(facts.STAGES)


def test_the_funnel_shows_the_disqualified_leads_beside_the_stages() -> None:
    refused = lead("x", "expo", "events", disqualified_at=T)
    report = marketing.funnel([*LEADS, refused], "source_class")
    assert report.columns == ["source_class", *facts.STAGES, "disqualified"]
    events = next(r for r in report.rows if r["source_class"] == "events")
    assert (events["raw"], events["basic_qualified"], events["disqualified"]) == (2, 0, 1)
    assert report.total is not None
    assert report.total["disqualified"] == 1


def test_costs_divide_spend_by_leads_and_by_won_leads_and_missing_spend_is_not_zero() -> None:
    deals = [
        DealFact("o1", "a", "ana", True, 1_200_000, T),
        DealFact("o2", "d", "bo", False, 500_000, T),
    ]
    spend = [
        SpendFact("web", "2026-03", 100_000),
        SpendFact("expo", "2026-03", 33_333),
        SpendFact("radio", "2026-03", 5_000),
    ]
    report = marketing.costs(LEADS, deals, spend, source_classes={"radio": "marketing"})
    by_source = {r["source"]: r for r in report.rows}
    assert by_source["web"] == {
        "source": "web", "source_class": "marketing", "spend": 1000.0, "leads": 2, "won": 1,
        "won_amount": 12000.0, "cost_per_lead": 500.0, "cost_per_closed_sale": 1000.0,
    }  # fmt: skip
    assert by_source["expo"]["cost_per_lead"] == 333.33
    assert by_source["expo"]["cost_per_closed_sale"] is None
    assert by_source["partner"]["spend"] is None
    assert by_source["partner"]["cost_per_lead"] is None
    assert (by_source["radio"]["leads"], by_source["radio"]["source_class"]) == (0, "marketing")
    assert report.total is not None
    assert (report.total["spend"], report.total["cost_per_lead"]) == (1383.33, 345.83)
    by_class = marketing.costs(LEADS, deals, spend, by="source_class", source_classes={})
    assert {r["source_class"]: r["spend"] for r in by_class.rows} == {
        "events": 333.33,
        "marketing": 1000.0,
        "referrals": None,
        "unknown": 50.0,
    }


def test_follow_up_asks_leads_by_source_and_assignments_by_rep() -> None:
    by_source = sales.follow_up(LEADS, ASSIGNMENTS, "source", NOW)
    assert by_source.extra["unit"] == "lead"
    fields = ("source", "assigned", "touched", "touched_within_sla")
    assert [tuple(r[f] for f in fields) for r in by_source.rows] == [
        ("partner", 1, 1, 0),
        ("web", 2, 1, 1),
    ]
    assert by_source.total is not None
    assert (by_source.total["follow_up_rate"], by_source.total["within_sla_rate"]) == (
        0.6667,
        0.3333,
    )
    by_rep = sales.follow_up(LEADS, ASSIGNMENTS, "rep_id", NOW, {"ana": "Ana"})
    assert by_rep.columns[:2] == ["rep_id", "rep_name"]
    assert [(r["rep_id"], r["rep_name"], r["assigned"], r["touched"]) for r in by_rep.rows] == [
        ("ana", "Ana", 2, 1),
        ("bo", None, 2, 1),
    ]


def test_within_sla_counts_the_deadlines_decided_as_the_sla_report_does() -> None:
    """A rep's "within SLA" share and their SLA compliance are one number: an assignment
    neither touched nor due yet is pending in both, never a miss in one of them."""
    by_rep = sales.follow_up(LEADS, ASSIGNMENTS, "rep_id", NOW)
    sla = sales.sla_compliance(ASSIGNMENTS, NOW)
    within = {r["rep_id"]: r["within_sla_rate"] for r in by_rep.rows}
    assert within == {r["rep_id"]: r["compliance"] for r in sla.rows} == {"ana": 1.0, "bo": 0.0}
    ana = next(r for r in by_rep.rows if r["rep_id"] == "ana")
    assert (ana["assigned"], ana["sla_due"], ana["sla_pending"]) == (2, 1, 1)
    assert ana["follow_up_rate"] == 0.5  # following up still counts every assignment


def test_percentiles_use_the_nearest_rank() -> None:
    values = [40.0, 15.0, 50.0, 35.0, 20.0]
    assert [facts.percentile(values, p) for p in (5, 30, 40, 50, 100)] == [
        15.0,
        20.0,
        20.0,
        35.0,
        50.0,
    ]
    assert facts.percentile([], 50) is None


def test_time_to_first_touch_in_seconds() -> None:
    report = sales.time_to_first_touch(LEADS, ASSIGNMENTS, "source_class")
    rows = {r["source_class"]: r for r in report.rows}
    assert (rows["marketing"]["assigned"], rows["marketing"]["touched"]) == (2, 1)
    assert rows["marketing"]["p50_seconds"] == 180.0
    assert rows["referrals"]["p95_seconds"] == 540.0
    assert report.total is not None
    assert (report.total["p50_seconds"], report.total["p90_seconds"]) == (180.0, 540.0)
    by_rep = sales.time_to_first_touch(LEADS, ASSIGNMENTS, "rep_id")
    assert {r["rep_id"]: r["p50_seconds"] for r in by_rep.rows} == {"ana": 180.0, "bo": 540.0}


def test_sla_compliance_counts_only_assignments_that_are_due() -> None:
    report = sales.sla_compliance(ASSIGNMENTS, NOW)
    rows = {r["rep_id"]: r for r in report.rows}
    # ana: touched in time, and one not due yet. bo: one breached untouched, one touched late.
    assert {k: rows["ana"][k] for k in ("assignments", "due", "met", "pending", "compliance")} == {
        "assignments": 2,
        "due": 1,
        "met": 1,
        "pending": 1,
        "compliance": 1.0,
    }
    assert (rows["bo"]["due"], rows["bo"]["met"], rows["bo"]["missed"]) == (2, 0, 2)
    assert (rows["bo"]["compliance"], rows["bo"]["breaches"]) == (0.0, 1)
    later = sales.sla_compliance(ASSIGNMENTS, minutes(200))
    assert later.total is not None
    assert (later.total["due"], later.total["pending"], later.total["compliance"]) == (4, 0, 0.25)


def test_source_mix_warns_when_one_class_dominates() -> None:
    week_later = T + timedelta(days=7)
    leads = [
        *(lead(f"m{i}") for i in range(3)),
        lead("e", "expo", "events"),
        *(lead(f"n{i}", cohort_at=week_later) for i in range(2)),
    ]
    report = marketing.source_mix(leads, "week", threshold=0.6)
    fields = ("period", "marketing", "total", "dominant_class")
    assert [tuple(r[f] for f in fields) for r in report.rows] == [
        ("2026-W10", 3, 4, "marketing"),
        ("2026-W11", 2, 2, "marketing"),
    ]
    assert report.rows[0]["dominant_share"] == 0.75
    assert report.extra["shares"]["marketing"] == 0.8333
    assert [w["source_class"] for w in report.warnings] == ["marketing"]
    assert "83%" in report.warnings[0]["message"]
    balanced = marketing.source_mix([*leads[:4], lead("r", "p", "referrals")], "month", 0.6)
    assert balanced.warnings == []
    assert balanced.rows[0]["period"] == "2026-03"
    assert balanced.rows[0]["dominant_class"] is None


def test_lead_to_close_in_days() -> None:
    report = sales.lead_to_close(LEADS, "source")
    assert [(r["source"], r["won"], r["lost"], r["mean_days"]) for r in report.rows] == [
        ("partner", 0, 1, None),
        ("web", 1, 0, 12.0),
    ]
    assert report.total is not None
    assert (report.total["won"], report.total["p90_days"]) == (1, 12.0)


def test_audit_findings_show_contacts_the_prospect_does_not_remember() -> None:
    audits = [
        AuditFact("1", "a", "ana", "web", "marketing", True, 5, "bought_from_us", True),
        AuditFact("2", "b", "bo", "web", "marketing", False, 2, "still_evaluating", True),
        AuditFact("3", "d", "bo", "partner", "referrals", False, None, "no_decision", False),
    ]
    report = sales.audit_findings(audits, "rep_id")
    rows = {r["rep_id"]: r for r in report.rows}
    assert (rows["bo"]["audits"], rows["bo"]["contact_rate"]) == (2, 0.0)
    assert (rows["bo"]["mean_satisfaction"], rows["bo"]["logged_but_denied"]) == (2.0, 1)
    assert report.total is not None
    assert (report.total["mean_satisfaction"], report.total["bought_from_us"]) == (3.5, 1)


def test_csv_is_the_rows_then_the_total() -> None:
    report = sales.follow_up(LEADS, ASSIGNMENTS, "source", NOW)
    table = list(csv.reader(io.StringIO(report.as_csv())))
    assert table[0] == report.columns
    assert table[1] == ["partner", "1", "1", "1", "0", "0", "1.0", "0.0"]
    assert table[-1][0] == facts.TOTAL
    assert len(table) == len(report.rows) + 2
    empty = sales.time_to_first_touch([C], [], "source")
    assert list(csv.reader(io.StringIO(empty.as_csv())))[-1] == [
        "(total)",
        "0",
        "0",
        "",
        "",
        "",
        "",
    ]


@pytest.mark.parametrize(
    ("cents", "expected"),
    [(12345, 123.45), (Decimal("1234.5"), 12.35), (Decimal("1234.4"), 12.34), (0, 0.0)],
)
def test_money_rounds_half_up_to_cents(cents: int | Decimal, expected: float) -> None:
    assert facts.money(cents) == expected
