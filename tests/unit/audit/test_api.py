"""audit on the embedded runtime: the sampling policy, recording audits, spend, metric
parameters and CSV, the archive's once-only and any-order handling, erasure before the
events arrive, and the dashboard's assets."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from audit.archive import Archive
from audit.forecast import Forecast
from audit.models import events as archive_table
from audit.satisfaction_audits import SatisfactionAudits, sampled
from audit.settings import AuditSettings
from contracts.envelope import Envelope
from contracts.events import (
    EVENT_TYPES,
    Decision,
    LeadAssigned,
    LeadCaptured,
    LeadProfile,
    LeadQualified,
    LeadReturned,
    OpportunityClosed,
    make_envelope,
    parse_data,
)
from tests.backends import ADMIN, EmbeddedBackend
from tests.scenarios.audit import archived, put_on_audit_topic

T = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
async def leadfarm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EmbeddedBackend]:
    monkeypatch.setenv("LEADFARM_AUDIT_SAMPLE_RATE", "0.5")
    backend = await EmbeddedBackend(tmp_path).start()
    yield backend
    await backend.stop()


def profile(**extra: Any) -> LeadProfile:
    values: dict[str, Any] = {"source": "web", "email": f"{uuid.uuid4().hex[:8]}@example.com"}
    return LeadProfile(**{**values, **extra})


def captured(lead_id: str, at: datetime = T, **extra: Any) -> Envelope:
    return make_envelope(
        LeadCaptured(lead_id=lead_id, delivery_id="d", lead=profile(**extra)), time=at
    )


def assigned(lead_id: str, rep: str = "ana", at: datetime = T) -> Envelope:
    return make_envelope(
        LeadAssigned(
            lead_id=lead_id,
            assignment_id=f"a-{lead_id}",
            rep_id=rep,
            rep_name=rep.title(),
            pool="everyone",
            rule="default",
            strategy="round_robin",
            first_touch_due_at=at + timedelta(minutes=5),
        ),
        time=at,
    )


async def play(backend: EmbeddedBackend, envelopes: list[Envelope]) -> None:
    await put_on_audit_topic(backend, envelopes)
    await archived(backend, envelopes)


async def new_key(backend: EmbeddedBackend, scope: str, rep_id: str | None = None) -> Any:
    response = await backend.client("audit").post(
        "/admin/v1/keys", json={"name": scope, "scope": scope, "rep_id": rep_id}, headers=ADMIN
    )
    return {"Authorization": f"Bearer {response.json()['key']}"}


async def test_the_sampling_policy_audits_a_share_of_assigned_and_every_returned_lead(
    leadfarm: EmbeddedBackend,
) -> None:
    leads = [f"lead-{i}" for i in range(24)]
    returned = "lead-returned"
    test_lead = "lead-test"
    story: list[Envelope] = []
    for lead_id in leads:
        story += [captured(lead_id), assigned(lead_id)]
    story += [captured(test_lead, is_test=True), assigned(test_lead)]
    story += [
        captured(returned),
        make_envelope(
            LeadReturned(lead_id=returned, rep_id=None, reason="cadence exhausted", lead=profile()),
            time=T + timedelta(days=10),
        ),
    ]
    await play(leadfarm, story)

    response = await leadfarm.client("audit").get("/audit/v1/audits", headers=ADMIN)
    opened = {t["lead_id"]: t for t in response.json()}
    expected = {lead_id for lead_id in leads if sampled(lead_id, 0.5)}
    assert 4 < len(expected) < 20, "the hash spreads the leads"
    assert set(opened) == expected | {returned}
    assert opened[returned]["reason"] == "returned"
    some = opened[sorted(expected)[0]]
    assert (some["reason"], some["status"], some["rep_id"]) == ("sampled", "open", "ana")
    assert some["due_at"] == (T + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    events = await leadfarm.timeline_with(some["lead_id"], "leadfarm.audit.opened.v1")
    assert (
        next(e for e in events if e["type"] == "leadfarm.audit.opened.v1")["data"]["audit_id"]
        == some["id"]
    )
    # Due now (the clock is past April 2026), soonest first.
    due = await leadfarm.client("audit").get(
        "/audit/v1/audits", params={"due": "true"}, headers=ADMIN
    )
    assert len(due.json()) == len(opened)


async def test_recording_an_audit(leadfarm: EmbeddedBackend) -> None:
    http = leadfarm.client("audit")
    await play(leadfarm, [captured("lead-1"), assigned("lead-1", "bo")])
    rep = await new_key(leadfarm, "rep", "bo")

    assert (
        await http.post("/audit/v1/audits", json={"lead_id": "nobody"}, headers=ADMIN)
    ).status_code == 404
    assert (
        await http.post("/audit/v1/audits", json={"lead_id": "lead-1"}, headers=rep)
    ).status_code == 403
    opened = await http.post("/audit/v1/audits", json={"lead_id": "lead-1"}, headers=ADMIN)
    assert opened.status_code == 201, opened.text
    task = opened.json()
    assert (task["reason"], task["rep_id"]) in {("manual", "bo")}
    again = await http.post("/audit/v1/audits", json={"lead_id": "lead-1"}, headers=ADMIN)
    assert again.status_code == 409
    assert task["id"] in again.json()["detail"]

    url = f"/audit/v1/audits/{task['id']}/outcome"
    wrong = await http.post(
        url,
        json={"contacted": False, "contact_count": 2, "outcome": "no_decision"},
        headers=ADMIN,
    )
    assert wrong.status_code == 422
    assert "contact_count" in wrong.json()["detail"]
    wrong = await http.post(
        url, json={"contacted": True, "satisfaction": 6, "outcome": "maybe"}, headers=ADMIN
    )
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} == {"satisfaction", "outcome"}

    said = {
        "contacted": True,
        "contact_count": 3,
        "contacted_by": "bo",
        "contacted_within": "day",
        "satisfaction": 4,
        "outcome": "bought_from_competitor",
        "comment": "liked the demo, the price was too high",
    }
    recorded = await http.post(url, json=said, headers=ADMIN)
    assert recorded.status_code == 200, recorded.text
    body = recorded.json()
    assert (body["status"], body["satisfaction"], body["logged_contact"]) == ("recorded", 4, False)
    assert body["recorded_by"] == "env-admin"
    assert (await http.post(url, json=said, headers=ADMIN)).status_code == 409
    assert (
        await http.post("/audit/v1/audits/nope/outcome", json=said, headers=ADMIN)
    ).status_code == 404

    events = await leadfarm.timeline_with("lead-1", "leadfarm.audit.recorded.v1")
    event = next(e for e in events if e["type"] == "leadfarm.audit.recorded.v1")
    assert {k: event["data"][k] for k in ("audit_id", "contact_count", "outcome", "rep_id")} == {
        "audit_id": task["id"],
        "contact_count": 3,
        "outcome": "bought_from_competitor",
        "rep_id": "bo",
    }
    assert "comment" not in event["data"], "free text stays out of events"
    listed = await http.get("/audit/v1/audits", params={"status": "recorded"}, headers=ADMIN)
    assert [t["id"] for t in listed.json()] == [task["id"]]


async def test_spend_and_metric_parameters(leadfarm: EmbeddedBackend) -> None:
    http = leadfarm.client("audit")
    url = "/audit/v1/spend/web/2026-04"
    first = await http.put(url, json={"amount": "1200.50", "note": "April ads"}, headers=ADMIN)
    assert first.status_code == 201, first.text
    again = await http.put(url, json={"amount": 1300}, headers=ADMIN)
    assert again.status_code == 200
    assert (again.json()["amount"], again.json()["currency"]) == ("1300.00", "USD")
    bad_month = await http.put("/audit/v1/spend/web/2026-13", json={"amount": 1}, headers=ADMIN)
    assert bad_month.status_code == 422
    euros = await http.put(url, json={"amount": 1, "currency": "EUR"}, headers=ADMIN)
    assert euros.status_code == 422
    assert euros.json()["errors"][0]["field"] == "currency"
    await http.put("/audit/v1/spend/web/2026-05", json={"amount": 10}, headers=ADMIN)
    listed = await http.get("/audit/v1/spend", params={"from": "2026-05"}, headers=ADMIN)
    assert [(s["period"], s["amount"]) for s in listed.json()] == [("2026-05", "10.00")]

    await play(leadfarm, [captured("lead-1")])
    bad = await http.get("/audit/v1/metrics/sla", params={"by": "source"}, headers=ADMIN)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "by"
    bad = await http.get("/audit/v1/metrics/funnel", params={"from": "April"}, headers=ADMIN)
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "from")
    bad = await http.get(
        "/audit/v1/metrics/funnel", params={"from": "2026-05", "to": "2026-04"}, headers=ADMIN
    )
    assert bad.status_code == 422
    assert (await http.get("/audit/v1/metrics/nothing", headers=ADMIN)).status_code == 422
    rep = await new_key(leadfarm, "rep", "ana")
    assert (await http.get("/audit/v1/metrics/funnel", headers=rep)).status_code == 403

    as_csv = await http.get("/audit/v1/metrics/costs", headers={**ADMIN, "Accept": "text/csv"})
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert "costs-by-source.csv" in as_csv.headers["content-disposition"]
    assert as_csv.text.splitlines() == [
        "source,source_class,spend,leads,won,won_amount,cost_per_lead,cost_per_closed_sale",
        "web,marketing,1310.0,1,0,0.0,1310.0,",
        "(total),,1310.0,1,0,0.0,1310.0,",
    ]
    as_json = await http.get("/audit/v1/metrics/funnel", params={"to": "2026-04"}, headers=ADMIN)
    assert as_json.json()["rows"][0]["raw"] == 1
    assert (as_json.json()["from"], as_json.json()["to"]) == (None, "2026-04")


async def test_the_archive_keeps_each_event_once_in_any_order(leadfarm: EmbeddedBackend) -> None:
    unit = leadfarm.runtime.units["audit"]
    settings = AuditSettings(sample_rate=0)
    archive = Archive(settings, Forecast(settings), SatisfactionAudits(settings))
    # The router's event may be handled before ingest's: the read model fills in either way.
    story = [assigned("lead-1", at=T + timedelta(minutes=1)), captured("lead-1", at=T)]
    for envelope in [*story, story[0]]:  # the assignment arrives twice
        async with unit.transaction() as tx:
            await archive.handle(tx, envelope, parse_data(envelope))
    async with unit.read() as conn:
        stored = await conn.scalar(select(func.count()).select_from(archive_table))
    assert stored == 2
    summary = await leadfarm.client("audit").get("/audit/v1/leads/lead-1", headers=ADMIN)
    body = summary.json()
    assert (body["source"], body["rep_id"], body["events"]) == ("web", "ana", 2)
    assert body["captured_at"] == "2026-04-06T09:00:00Z"
    assert body["assigned_at"] == "2026-04-06T09:01:00Z"
    timeline = await leadfarm.timeline("lead-1")
    assert [e["type"] for e in timeline] == [
        "leadfarm.lead.captured.v1",
        "leadfarm.lead.assigned.v1",
    ]
    assert (
        await leadfarm.client("audit").get("/audit/v1/leads/x", headers=ADMIN)
    ).status_code == 404


async def test_the_router_s_newer_events_move_the_funnel(leadfarm: EmbeddedBackend) -> None:
    accepted = "leadfarm.lead.accepted.v1"
    opened = "leadfarm.opportunity.opened.v1"
    assert accepted in EVENT_TYPES, "the router says lead.accepted"
    assert opened in EVENT_TYPES, "the router says opportunity.opened"
    data = {"lead_id": "lead-1", "assignment_id": "a-lead-1", "rep_id": "ana"}
    story = [
        captured("lead-1"),
        assigned("lead-1"),
        Envelope(
            source="/leadfarm/router",
            type=accepted,
            time=T + timedelta(minutes=3),
            subject="lead-1",
            data={**data, "at": (T + timedelta(minutes=2)).isoformat()},
        ),
        Envelope(
            source="/leadfarm/router",
            type=opened,
            time=T + timedelta(days=1),
            subject="lead-1",
            data={
                "lead_id": "lead-1",
                "opportunity_id": "o-1",
                "rep_id": "ana",
                "amount": "5000",
                "lead": profile().model_dump(mode="json"),
            },
        ),
    ]
    await play(leadfarm, story)
    summary = (await leadfarm.client("audit").get("/audit/v1/leads/lead-1", headers=ADMIN)).json()
    assert summary["accepted_at"] == "2026-04-06T09:02:00Z"
    assert summary["opportunity_at"] == "2026-04-07T09:00:00Z"
    funnel = await leadfarm.client("audit").get("/audit/v1/metrics/funnel", headers=ADMIN)
    total = funnel.json()["total"]
    assert (total["accepted"], total["opportunity"], total["won"]) == (1, 1, 0)


async def test_an_erasure_before_the_events_arrive_stores_them_redacted(
    leadfarm: EmbeddedBackend,
) -> None:
    http = leadfarm.client("audit")
    rep = await new_key(leadfarm, "manager")
    assert (
        await http.post("/audit/v1/erasures", json={"lead_id": "lead-9"}, headers=rep)
    ).status_code == 403
    erased = await http.post("/audit/v1/erasures", json={"lead_id": "lead-9"}, headers=ADMIN)
    assert erased.status_code == 201
    assert erased.json()["events_redacted"] == 0
    await play(leadfarm, [captured("lead-9", first_name="Ingrid", company="Nordlicht AG")])
    event = (await leadfarm.timeline("lead-9"))[0]
    assert (event["data"]["lead"]["first_name"], event["data"]["lead"]["company"]) == (None, None)
    assert event["data"]["lead"]["source"] == "web"
    funnel = await http.get("/audit/v1/metrics/funnel", headers=ADMIN)
    assert funnel.json()["total"]["raw"] == 1


async def test_the_dashboard_page_holds_no_data_and_needs_no_key(leadfarm: EmbeddedBackend) -> None:
    http = leadfarm.client("audit")
    page = await http.get("/audit/v1/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    for chart in ("funnel", "source-mix", "ttft", "sla", "forecast"):
        assert f'id="chart-{chart}"' in page.text
    assert 'type="password"' in page.text
    script = await http.get("/audit/v1/dashboard/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "sessionStorage" in script.text
    for name in ("app.js", "format.js"):
        ours = await http.get(f"/audit/v1/dashboard/{name}")
        assert "http://" not in ours.text
        assert "https://" not in ours.text
    style = await http.get("/audit/v1/dashboard/app.css")
    assert style.headers["content-type"].startswith("text/css")
    # Chart.js, from this origin, byte for byte as published (audit/static/vendor/README.md).
    assert '<script src="/audit/v1/dashboard/chart.umd.min.js"' in page.text
    charts = await http.get("/audit/v1/dashboard/chart.umd.min.js")
    assert charts.status_code == 200
    assert charts.headers["content-type"].startswith("text/javascript")
    assert charts.headers["content-security-policy"] == csp
    assert charts.text.startswith("/*!\n * Chart.js v4.6.2\n")
    assert hashlib.sha256(charts.content).hexdigest() == (
        "3f288f4f26882c26b58931fb586a9b4f30370b5de38d69dc005b0bd05b08e113"
    )


async def test_finding_a_lead_by_email_or_company(leadfarm: EmbeddedBackend) -> None:
    await play(
        leadfarm,
        [
            captured("lead-f1", email="Jo.Pine@Acme.example", company="Acme Timber"),
            assigned("lead-f1", "ana"),
            captured("lead-f2", at=T + timedelta(hours=1), company="ACME Steel"),
            captured("lead-f3", email="other@example.com", company="Birch & Co"),
        ],
    )
    http = leadfarm.client("audit")

    async def found(text: str) -> list[dict[str, Any]]:
        response = await http.get("/audit/v1/leads", params={"q": text}, headers=ADMIN)
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result

    by_email = await found("  jo.pine@acme.EXAMPLE ")
    assert [m["lead_id"] for m in by_email] == ["lead-f1"]
    assert (by_email[0]["rep_id"], by_email[0]["rep_name"]) == ("ana", "Ana")
    assert by_email[0]["company"] == "Acme Timber"
    assert [m["lead_id"] for m in await found("acme")] == ["lead-f2", "lead-f1"]  # newest first
    assert [m["lead_id"] for m in await found("lead-f3")] == ["lead-f3"]
    assert await found("jo.pine@acme") == []  # an email is matched whole
    assert await found("100%") == []  # LIKE's wildcards are plain text here
    rep = await new_key(leadfarm, "rep", "ana")
    refused = await http.get("/audit/v1/leads", params={"q": "acme"}, headers=rep)
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ({"q": "   "}, 422, "is required"),  # without q at all, the leads are listed
        ({"q": "a"}, 422, "at least 2 characters"),
        ({"q": "x" * 321}, 422, "at most 320 characters"),
        ({"q": "acme\x00"}, 400, "U+0000"),
        ({"q": "acme", "limit": "0"}, 422, "limit"),
        ({"q": "acme", "limit": "1001"}, 422, "limit"),
        ({"stage": "won"}, 422, "stage"),
    ],
)
async def test_a_bad_search_is_a_problem_naming_the_parameter(
    leadfarm: EmbeddedBackend, query: dict[str, str], status: int, says: str
) -> None:
    response = await leadfarm.client("audit").get("/audit/v1/leads", params=query, headers=ADMIN)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert says in problem["detail"] or says in str(problem.get("errors"))
    if status == 422 and "limit" not in query and "stage" not in query:
        assert problem["errors"][0]["field"] == "q"
    if status == 400:
        assert "'q'" in problem["detail"]


async def test_a_won_lead_is_on_the_forecast_at_its_deal_s_amount_in_either_order(
    leadfarm: EmbeddedBackend,
) -> None:
    """Won after it entered the forecast, or won before its qualification arrived (topics
    are not ordered with each other): either way the entry is won at the deal's amount."""

    def qualified(lead_id: str, at: datetime) -> Envelope:
        decision = Decision.model_validate(
            {
                "lifecycle": "prospect",
                "stage": "sales_qualified",
                "term": "short",
                "score": 80,
                "definition_version": "d",
            }
        )
        return make_envelope(
            LeadQualified(lead_id=lead_id, decision=decision, lead=profile()), time=at
        )

    def won(lead_id: str, amount: str, at: datetime) -> Envelope:
        return make_envelope(
            OpportunityClosed(
                lead_id=lead_id,
                opportunity_id=f"o-{lead_id}",
                rep_id="ana",
                won=True,
                amount=Decimal(amount),
                lead=profile(),
            ),
            time=at,
        )

    day = timedelta(days=1)
    await play(leadfarm, [captured("w1"), qualified("w1", T), won("w1", "12345", T + day)])
    await play(leadfarm, [captured("w2"), won("w2", "7000", T + day)])
    await play(leadfarm, [qualified("w2", T + 2 * day)])
    http = leadfarm.client("audit")
    entries = (await http.get("/audit/v1/forecast/leads?status=won", headers=ADMIN)).json()
    assert {e["lead_id"]: e["amount"] for e in entries} == {"w1": "12345.00", "w2": "7000.00"}
    forecast = (await http.get("/audit/v1/forecast", headers=ADMIN)).json()
    assert forecast["total"]["won_amount"] == "19345.00"
