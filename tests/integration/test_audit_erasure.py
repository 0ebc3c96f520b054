"""Erasure on both runtimes: a person's data leaves audit's store (every table of it; on the
cluster, the whole `audit` schema), every count behind every metric stays, and an event
that arrives after the erasure is stored already redacted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from contracts.events import (
    ContactLogged,
    LeadAssigned,
    LeadProfile,
    LeadReturned,
    OpportunityClosed,
    make_envelope,
)
from tests.backends import ADMIN, Backend, ClusterBackend, eventually
from tests.scenarios.audit import archived, put_on_audit_topic

PERSON = {
    "email": "Zyxo.Quell@Veridian-Test.example",
    "phone": "+49 30 5550199",
    "first_name": "Zyxo",
    "last_name": "Quellborn",
    "company": "Veridian Holzwerk",
    "job_title": "Chief Zyxology Officer",
    "country": "DE",
    "source": "website",
    "timeframe_days": 30,
    "asked_to_be_contacted": True,
    "has_budget": True,
    "need": "Zyxo needs forty saws before the Quellborn plant opens",
    "answers": {"budget_owner": "Zyxo Quellborn"},
}
# Lower-case fragments of the person's data; none may remain anywhere in audit's store.
TRACES = ("zyxo", "quellborn", "veridian", "holzwerk", "5550199")
DECIDED = (
    "leadfarm.lead.qualified.v1",
    "leadfarm.lead.deferred.v1",
    "leadfarm.lead.disqualified.v1",
)
METRICS = (
    "funnel?by=source",
    "funnel?by=source_class",
    "costs?by=source",
    "follow-up?by=rep",
    "follow-up?by=source",
    "time-to-first-touch?by=rep",
    "sla",
    "source-mix",
    "lead-to-close?by=source",
    "audits?by=rep",
    "audits?by=source",
)


@pytest.fixture(autouse=True)
def _audit_returns_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFARM_AUDIT_AUDIT_RETURNED", "true")
    monkeypatch.setenv("LEADFARM_AUDIT_SAMPLE_RATE", "0")  # the return opens the audit


async def numbers(backend: Backend) -> dict[str, Any]:
    http = backend.client("audit")
    out: dict[str, Any] = {}
    for path in (*(f"/audit/v1/metrics/{m}" for m in METRICS), "/audit/v1/forecast"):
        response = await http.get(path, headers=ADMIN)
        assert response.status_code == 200, response.text
        out[path] = response.json()
    return out


async def stored_text(backend: Backend) -> dict[str, str]:
    """Every row of every table of audit's store, as text: the audit_* tables (embedded,
    where the one SQLite file is shared) or the whole `audit` schema (cluster: its outbox,
    inbox and timers included)."""
    unit = backend.runtimes["audit"].units["audit"]
    out: dict[str, str] = {}
    async with unit.read() as conn:
        if isinstance(backend, ClusterBackend):
            names = (
                await conn.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'audit'"
                    )
                )
            ).scalars()
            tables = [f'audit."{n}"' for n in names]
        else:
            names = (
                await conn.execute(
                    text("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'audit%'")
                )
            ).scalars()
            tables = [f'"{n}"' for n in names]
        for table in tables:
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).all()
            out[table] = "\n".join(repr(tuple(r)) for r in rows).lower()
    assert any("audit_events" in t for t in out), out.keys()
    return out


def traces_in(store: dict[str, str]) -> list[tuple[str, str]]:
    return [(table, t) for table, dump in store.items() for t in TRACES if t in dump]


async def test_erasure_keeps_every_count_and_leaves_no_personal_data(backend: Backend) -> None:
    lead_id = await backend.post_lead(**PERSON)
    await backend.timeline_with(lead_id, "leadfarm.lead.captured.v1")

    async def decided() -> list[dict[str, Any]] | None:
        events = await backend.timeline(lead_id)
        return events if any(e["type"] in DECIDED for e in events) else None

    events = await eventually(decided, timeout=60)
    captured = next(e for e in events if e["type"] == "leadfarm.lead.captured.v1")
    profile = LeadProfile.model_validate(captured["data"]["lead"])
    assert profile.email == "zyxo.quell@veridian-test.example"

    # The rest of the story, said by the router (on audit's topic, so only audit hears it).
    now = datetime.now(UTC)
    story = [
        make_envelope(
            LeadAssigned(
                lead_id=lead_id,
                assignment_id=f"a-{lead_id}",
                rep_id="ana",
                rep_name="Ana",
                pool="everyone",
                rule="default",
                strategy="round_robin",
                first_touch_due_at=now + timedelta(minutes=5),
            ),
            time=now,
        ),
        make_envelope(
            ContactLogged(
                lead_id=lead_id,
                activity_id=str(uuid.uuid4()),
                rep_id="ana",
                channel="call",
                outcome="left a message for Zyxo at Veridian Holzwerk",
                at=now + timedelta(minutes=2),
            ),
            time=now + timedelta(minutes=2),
        ),
        make_envelope(
            LeadReturned(
                lead_id=lead_id,
                rep_id="ana",
                reason="Zyxo Quellborn asked to be called next year",
                lead=profile,
            ),
            time=now + timedelta(minutes=3),
        ),
    ]
    await put_on_audit_topic(backend, story)
    await archived(backend, story)

    http = backend.client("audit")
    audits = await http.get("/audit/v1/audits", params={"status": "open"}, headers=ADMIN)
    task = next(t for t in audits.json() if t["lead_id"] == lead_id)
    assert task["reason"] == "returned"
    recorded = await http.post(
        f"/audit/v1/audits/{task['id']}/outcome",
        json={
            "contacted": True,
            "contact_count": 1,
            "contacted_by": "ana",
            "contacted_within": "day",
            "satisfaction": 4,
            "outcome": "still_evaluating",
            "comment": "Zyxo Quellborn of Veridian Holzwerk liked the call (+49 30 5550199)",
        },
        headers=ADMIN,
    )
    assert recorded.status_code == 200, recorded.text
    await backend.timeline_with(lead_id, "leadfarm.audit.recorded.v1")

    async def found_by(text: str) -> list[str]:
        response = await http.get("/audit/v1/leads", params={"q": text}, headers=ADMIN)
        assert response.status_code == 200, response.text
        return [match["lead_id"] for match in response.json()]

    # A manager finds the lead by its email (any case) or part of its company name.
    assert await found_by(str(PERSON["email"])) == [lead_id]
    assert await found_by("holzwerk") == [lead_id]

    before = await numbers(backend)
    timeline_before = await backend.timeline(lead_id)
    store = await stored_text(backend)
    assert {t for t, _ in traces_in(store)} >= {'"audit_events"', '"audit_tasks"'} or {
        t for t, _ in traces_in(store)
    } >= {'audit."audit_events"', 'audit."audit_tasks"'}, "the person's data is there at first"
    if isinstance(backend, ClusterBackend):
        assert 'audit."outbox"' in store

    erased = await http.post("/audit/v1/erasures", json={"lead_id": lead_id}, headers=ADMIN)
    assert erased.status_code == 201, erased.text
    assert erased.json()["events_redacted"] >= 4

    assert await numbers(backend) == before, "an erasure changes no count"
    timeline_after = await backend.timeline(lead_id)
    kept = {e["id"]: e for e in timeline_after}
    for event in timeline_before:  # every event stays, in order, with its type and time
        assert kept[event["id"]]["type"] == event["type"]
        assert kept[event["id"]]["time"] == event["time"]
    earlier = {e["id"] for e in timeline_before}  # (later events may land in between)
    assert [e["id"] for e in timeline_after if e["id"] in earlier] == [
        e["id"] for e in timeline_before
    ]
    lead_after = next(e for e in timeline_after if e["type"] == "leadfarm.lead.captured.v1")[
        "data"
    ]["lead"]
    assert (lead_after["email"], lead_after["company"], lead_after["source"]) == (
        None,
        None,
        "website",
    )
    assert traces_in(await stored_text(backend)) == []
    assert await found_by(str(PERSON["email"])) == [], "an erased person is not found by old email"
    assert await found_by("Veridian Holzwerk") == []
    assert await found_by(lead_id) == [lead_id], "by its id, its redacted story is traced"
    by_id = await http.get("/audit/v1/leads", params={"q": lead_id}, headers=ADMIN)
    assert (by_id.json()[0]["email"], by_id.json()[0]["company"]) == (None, None)
    summary = (await http.get(f"/audit/v1/leads/{lead_id}", headers=ADMIN)).json()
    assert summary["erased_at"] is not None
    assert summary["audits"][0]["comment"] is None
    assert summary["audits"][0]["satisfaction"] == 4

    # A late event about the person is stored redacted, and still counts.
    won = make_envelope(
        OpportunityClosed(
            lead_id=lead_id,
            opportunity_id=f"o-{lead_id}",
            rep_id="ana",
            won=True,
            amount=Decimal("15000"),
            lead=profile,
        ),
        time=now + timedelta(days=20),
    )
    await put_on_audit_topic(backend, [won])
    await archived(backend, [won])
    funnel = await http.get("/audit/v1/metrics/funnel?by=source", headers=ADMIN)
    website = next(r for r in funnel.json()["rows"] if r["source"] == "website")
    old = next(
        r for r in before["/audit/v1/metrics/funnel?by=source"]["rows"] if r["source"] == "website"
    )
    assert website["won"] == old["won"] + 1
    assert traces_in(await stored_text(backend)) == []
    assert await found_by(str(PERSON["email"])) == [], "nor after a late event with the profile"
