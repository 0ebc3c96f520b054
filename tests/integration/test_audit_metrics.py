"""Every metric, as JSON and as CSV, against the hand-computed scenario in
tests/scenarios/audit.py, on both runtimes (the embedded log, and Kafka + PostgreSQL)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.backends import ADMIN, Backend
from tests.scenarios import audit as scenario


@pytest.fixture(autouse=True)
def _scenario_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in scenario.SETTINGS.items():
        monkeypatch.setenv(name, value)


async def metric(backend: Backend, path: str, **params: str) -> dict[str, Any]:
    response = await backend.client("audit").get(
        f"/audit/v1/metrics/{path}", params=params, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def metric_csv(backend: Backend, path: str, **params: str) -> list[dict[str, str]]:
    response = await backend.client("audit").get(
        f"/audit/v1/metrics/{path}", params={**params, "format": "csv"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def rows(body: dict[str, Any], key: str, *fields: str) -> dict[str, tuple[Any, ...]]:
    return {row[key]: tuple(row[f] for f in fields) for row in body["rows"]}


def total(body: dict[str, Any], *fields: str) -> tuple[Any, ...]:
    return tuple(body["total"][f] for f in fields)


STAGES = ("raw", "basic_qualified", "sales_qualified", "accepted", "opportunity", "won")


async def record_audits(backend: Backend, s: scenario.Scenario) -> None:
    """What four prospects said (see the expectations in the audits test)."""
    http = backend.client("audit")
    said = {
        "L1": {
            "contacted": True,
            "contact_count": 2,
            "contacted_within": "hour",
            "satisfaction": 5,
            "outcome": "bought_from_us",
        },
        "L3": {"contacted": False, "satisfaction": 2, "outcome": "bought_from_competitor"},
        "L5": {
            "contacted": True,
            "contact_count": 1,
            "contacted_within": "day",
            "satisfaction": 4,
            "outcome": "bought_from_us",
        },
        "L7": {"contacted": False, "satisfaction": 1, "outcome": "still_evaluating"},
    }
    for name, body in said.items():
        opened = await http.post("/audit/v1/audits", json={"lead_id": s.id(name)}, headers=ADMIN)
        assert opened.status_code == 201, opened.text
        recorded = await http.post(
            f"/audit/v1/audits/{opened.json()['id']}/outcome", json=body, headers=ADMIN
        )
        assert recorded.status_code == 200, recorded.text


async def test_every_metric_matches_the_hand_computed_scenario(backend: Backend) -> None:
    s = await scenario.load(backend)
    await record_audits(backend, s)

    # --- funnel ---------------------------------------------------------------------------
    funnel = await metric(backend, "funnel", by="source_class")
    assert rows(funnel, "source_class", *STAGES) == {
        "events": (2, 2, 1, 0, 0, 0),
        "marketing": (4, 3, 3, 2, 2, 1),
        "referrals": (1, 1, 1, 1, 1, 1),
        "rep_prospecting": (1, 1, 0, 0, 0, 0),
    }
    assert total(funnel, *STAGES) == (8, 7, 5, 3, 3, 2)
    funnel = await metric(backend, "funnel", by="source")
    assert rows(funnel, "source", "source_class", *STAGES) == {
        "cold": ("rep_prospecting", 1, 1, 0, 0, 0, 0),
        "expo": ("events", 2, 2, 1, 0, 0, 0),
        "partner": ("referrals", 1, 1, 1, 1, 1, 1),
        "web": ("marketing", 4, 3, 3, 2, 2, 1),
    }
    february = await metric(backend, "funnel", by="source_class", **{"from": "2026-02"})
    assert rows(february, "source_class", *STAGES) == {
        "marketing": (2, 1, 1, 0, 0, 0),
        "rep_prospecting": (1, 1, 0, 0, 0, 0),
    }
    table = await metric_csv(backend, "funnel", by="source")
    assert list(table[0]) == ["source", "source_class", *STAGES, "disqualified"]
    assert table[-1]["disqualified"] == "1"  # L6
    assert [r["source"] for r in table] == ["cold", "expo", "partner", "web", "(total)"]
    assert table[-1]["raw"] == "8"
    assert table[3]["won"] == "1"

    # --- cost per lead and per closed sale ------------------------------------------------
    fields: tuple[str, ...] = (
        "spend",
        "leads",
        "won",
        "won_amount",
        "cost_per_lead",
        "cost_per_closed_sale",
    )
    costs = await metric(backend, "costs", by="source")
    assert costs["currency"] == "USD"
    assert rows(costs, "source", "source_class", *fields) == {
        "cold": ("rep_prospecting", None, 1, 0, 0.0, None, None),
        "expo": ("events", 3000.0, 2, 0, 0.0, 1500.0, None),
        "partner": ("referrals", None, 1, 1, 6000.0, None, None),
        "radio": (None, 200.0, 0, 0, 0.0, None, None),
        "web": ("marketing", 1500.0, 4, 1, 12000.0, 375.0, 1500.0),
    }
    assert total(costs, *fields) == (4700.0, 8, 2, 18000.0, 587.5, 2350.0)
    january = await metric(backend, "costs", by="source", **{"from": "2026-01", "to": "2026-01"})
    assert rows(january, "source", *fields)["web"] == (1000.0, 2, 1, 12000.0, 500.0, 1000.0)
    assert total(january, *fields) == (4200.0, 5, 2, 18000.0, 840.0, 2100.0)
    by_class = await metric(backend, "costs", by="source_class")
    assert rows(by_class, "source_class", *fields) == {
        "events": (3000.0, 2, 0, 0.0, 1500.0, None),
        "marketing": (1500.0, 4, 1, 12000.0, 375.0, 1500.0),
        "referrals": (None, 1, 1, 6000.0, None, None),
        "rep_prospecting": (None, 1, 0, 0.0, None, None),
        "unknown": (200.0, 0, 0, 0.0, None, None),
    }
    table = await metric_csv(backend, "costs", by="source")
    assert table[-1] == {
        "source": "(total)",
        "source_class": "",
        "spend": "4700.0",
        "leads": "8",
        "won": "2",
        "won_amount": "18000.0",
        "cost_per_lead": "587.5",
        "cost_per_closed_sale": "2350.0",
    }

    # --- follow-up ------------------------------------------------------------------------
    fields = ("assigned", "touched", "touched_within_sla", "follow_up_rate", "within_sla_rate")
    follow = await metric(backend, "follow-up", by="source")
    assert follow["unit"] == "lead"
    assert rows(follow, "source", *fields) == {
        "expo": (1, 0, 0, 0.0, 0.0),
        "partner": (1, 1, 1, 1.0, 1.0),
        "web": (3, 3, 1, 1.0, 0.3333),
    }
    assert total(follow, *fields) == (5, 4, 2, 0.8, 0.4)
    follow = await metric(backend, "follow-up", by="rep")
    assert follow["unit"] == "assignment"
    assert rows(follow, "rep_id", "rep_name", *fields) == {
        "ana": ("Ana", 3, 2, 1, 0.6667, 0.3333),
        "bo": ("Bo", 3, 2, 2, 0.6667, 0.6667),
    }
    assert total(follow, *fields) == (6, 4, 3, 0.6667, 0.5)
    table = await metric_csv(backend, "follow-up", by="rep")
    assert [(r["rep_id"], r["follow_up_rate"]) for r in table] == [
        ("ana", "0.6667"),
        ("bo", "0.6667"),
        ("(total)", "0.6667"),
    ]

    # --- time to first touch --------------------------------------------------------------
    fields = ("assigned", "touched", "p50_seconds", "p75_seconds", "p90_seconds", "p95_seconds")
    ttft = await metric(backend, "time-to-first-touch", by="source")
    assert rows(ttft, "source", *fields) == {
        "expo": (1, 0, None, None, None, None),
        "partner": (1, 1, 240.0, 240.0, 240.0, 240.0),
        "web": (3, 3, 420.0, 600.0, 600.0, 600.0),
    }
    assert total(ttft, *fields) == (5, 4, 240.0, 420.0, 600.0, 600.0)
    ttft = await metric(backend, "time-to-first-touch", by="rep")
    assert rows(ttft, "rep_id", *fields) == {
        "ana": (3, 2, 120.0, 600.0, 600.0, 600.0),
        "bo": (3, 2, 120.0, 240.0, 240.0, 240.0),
    }
    assert total(ttft, *fields) == (6, 4, 120.0, 240.0, 600.0, 600.0)
    table = await metric_csv(backend, "time-to-first-touch", by="source")
    assert table[0]["source"] == "expo"
    assert table[0]["p50_seconds"] == ""

    # --- SLA compliance -------------------------------------------------------------------
    fields = ("assignments", "due", "met", "missed", "pending", "compliance", "breaches")
    sla = await metric(backend, "sla")
    assert rows(sla, "rep_id", *fields, "cadence_breaches") == {
        "ana": (3, 3, 1, 2, 0, 0.3333, 1, 0),
        "bo": (3, 3, 2, 1, 0, 0.6667, 1, 1),
    }
    assert total(sla, *fields, "cadence_breaches") == (6, 6, 3, 3, 0, 0.5, 2, 1)
    assert len(await metric_csv(backend, "sla")) == 3

    # --- source mix -----------------------------------------------------------------------
    classes = ("marketing", "events", "referrals", "rep_prospecting", "unknown", "total")
    mix = await metric(backend, "source-mix")
    assert rows(mix, "period", *classes, "dominant_class", "dominant_share") == {
        "2026-01": (2, 2, 1, 0, 0, 5, None, None),
        "2026-02": (2, 0, 0, 1, 0, 3, "marketing", 0.6667),
    }
    assert total(mix, *classes) == (4, 2, 1, 1, 0, 8)
    assert mix["threshold"] == 0.45
    assert mix["shares"] == {
        "marketing": 0.5,
        "events": 0.25,
        "referrals": 0.125,
        "rep_prospecting": 0.125,
    }
    assert [(w["source_class"], w["share"]) for w in mix["warnings"]] == [("marketing", 0.5)]
    weekly = await metric(backend, "source-mix", interval="week")
    assert rows(weekly, "period", "total") == {"2026-W02": (5,), "2026-W06": (3,)}
    table = await metric_csv(backend, "source-mix")
    assert [r["period"] for r in table] == ["2026-01", "2026-02", "(total)"]
    assert table[1]["dominant_class"] == "marketing"

    # --- lead to close --------------------------------------------------------------------
    fields = ("won", "lost", "mean_days", "p50_days", "p90_days")
    close = await metric(backend, "lead-to-close", by="source")
    assert rows(close, "source", *fields) == {
        "partner": (1, 0, 10.0, 10.0, 10.0),
        "web": (1, 1, 20.0, 20.0, 20.0),
    }
    assert total(close, *fields) == (2, 1, 15.0, 10.0, 20.0)
    close = await metric(backend, "lead-to-close", by="rep")
    assert rows(close, "rep_id", *fields) == {
        "ana": (1, 1, 20.0, 20.0, 20.0),
        "bo": (1, 0, 10.0, 10.0, 10.0),
    }
    assert (await metric_csv(backend, "lead-to-close", by="source_class"))[-1]["mean_days"] == (
        "15.0"
    )

    # --- Prospect Satisfaction findings ---------------------------------------------------
    fields = (
        "audits",
        "contacted",
        "contact_rate",
        "mean_satisfaction",
        "still_evaluating",
        "bought_from_us",
        "bought_from_competitor",
        "no_decision",
        "logged_but_denied",
    )
    audits = await metric(backend, "audits", by="rep")
    assert rows(audits, "rep_id", *fields) == {
        "ana": (1, 1, 1.0, 5.0, 0, 1, 0, 0, 0),
        "bo": (3, 1, 0.3333, 2.33, 1, 1, 1, 0, 1),
    }
    assert total(audits, *fields) == (4, 2, 0.5, 3.0, 1, 2, 1, 0, 1)
    audits = await metric(backend, "audits", by="source")
    assert rows(audits, "source", "audits", "contacted", "mean_satisfaction") == {
        "expo": (1, 0, 2.0),
        "partner": (1, 1, 4.0),
        "web": (2, 1, 3.0),
    }
    assert len(await metric_csv(backend, "audits", by="source_class")) == 4

    # --- the forecast ---------------------------------------------------------------------
    response = await backend.client("audit").get("/audit/v1/forecast", headers=ADMIN)
    assert response.status_code == 200, response.text
    forecast = response.json()
    assert forecast["basis"] == {
        "share": "0.10",
        "average_deal_size": "9000.00",
        "learned": True,
        "won_deals": 2,
        "min_won_deals": 2,
        "per_lead": "900.00",
    }

    def amounts(row: dict[str, Any]) -> tuple[Any, ...]:
        return (
            row["open_leads"],
            row["open_amount"],
            row["won_leads"],
            row["won_amount"],
            row["pending_removal"],
            row["removed_leads"],
        )

    # A won lead counts at its deal's amount (L1 12,000, L5 6,000), not at the estimate.
    assert amounts(forecast["total"]) == (3, "4900.00", 2, "18000.00", 1, 0)
    assert {r["key"]: amounts(r) for r in forecast["by_period"]} == {
        "2026-01": (1, "2000.00", 0, "0.00", 0, 0),
        "2026-02": (0, "0.00", 1, "12000.00", 0, 0),
        "2026-03": (1, "900.00", 1, "6000.00", 0, 0),
        "2026-04": (1, "2000.00", 0, "0.00", 1, 0),
    }
    assert {r["key"]: amounts(r) for r in forecast["by_rep"]} == {
        "ana": (1, "2000.00", 1, "12000.00", 1, 0),
        "bo": (2, "2900.00", 1, "6000.00", 0, 0),
    }
    assert {r["key"]: amounts(r) for r in forecast["by_source"]} == {
        "expo": (1, "2000.00", 0, "0.00", 0, 0),
        "partner": (0, "0.00", 1, "6000.00", 0, 0),
        "web": (2, "2900.00", 1, "12000.00", 1, 0),
    }
    assert {r["key"]: amounts(r)[:2] for r in forecast["by_source_class"]} == {
        "events": (1, "2000.00"),
        "marketing": (2, "2900.00"),
        "referrals": (0, "0.00"),
    }
    # The test lead is in the archive but in no number.
    summary = await backend.client("audit").get(f"/audit/v1/leads/{s.id('LT')}", headers=ADMIN)
    assert summary.json()["is_test"] is True
    assert summary.json()["forecast"] == []
