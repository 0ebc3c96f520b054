"""Erasure end to end, on both runtimes: a lead that was routed and enrolled is erased
through audit; all five services confirm; then the person's email, phone, name and company
appear nowhere in any store (every table of every schema: on PostgreSQL all schemas, on
SQLite the one file, outboxes, timers and audit's archive included), and a late event
about them brings nothing back.

The scan is generic on purpose: a new table that keeps personal data fails this test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from contracts.events import LeadProfile, LeadQualified, make_envelope
from tests.backends import ADMIN, Backend, ClusterBackend, eventually

PERSON = {
    "email": "Quillon.Vexbridge@Brightfen-Erase.example",
    "phone": "+44 20 7946 0321",
    "first_name": "Quillon",
    "last_name": "Vexbridge",
    "company": "Brightfen Lamps",
    "job_title": "Head of Vexbridge Lighting",
    "country": "GB",
    "source": "website",
    "timeframe_days": 30,
    "asked_to_be_contacted": True,
    "consent_email": True,
    "need": "Quillon needs lamps for the Brightfen plant",
}
# Lower-case traces of the person: the address (and its parts), the phone as typed and as
# E.164, the names and the company. None may remain anywhere after the erasure.
TRACES = (
    "quillon",
    "vexbridge",
    "brightfen",
    "7946 0321",
    "79460321",
)
SERVICES = ("ingest", "qualifier", "router", "nurture", "audit")


async def add_rep(backend: Backend, rep_id: str = "ana") -> None:
    response = await backend.client("router").post(
        "/router/v1/reps",
        json={"id": rep_id, "name": rep_id.title(), "email": f"{rep_id}@example.com"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text


async def every_table(backend: Backend) -> dict[str, str]:
    """Every row of every table, as lower-case text, by table (on PostgreSQL every schema
    but the catalogues; on SQLite the one file)."""
    unit = backend.runtimes["audit"].units["audit"]
    out: dict[str, str] = {}
    async with unit.read() as conn:
        if isinstance(backend, ClusterBackend):
            found = await conn.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
                    "('pg_catalog', 'information_schema')"
                )
            )
            tables = [f'"{schema}"."{name}"' for schema, name in found]
        else:
            found = await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
            tables = [f'"{name}"' for (name,) in found if not name.startswith("sqlite_")]
        for table in tables:
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).all()
            out[table] = "\n".join(repr(tuple(r)) for r in rows).lower()
    return out


def traces_in(store: dict[str, str], ignoring: str | None = None) -> list[tuple[str, str]]:
    """(table, trace) for every trace of the person left; rows naming `ignoring` (the
    injected late event itself, which sits in the embedded log as the test wrote it) are
    left out."""
    return [
        (table, t)
        for table, dump in store.items()
        for line in dump.splitlines()
        if ignoring is None or ignoring not in line
        for t in TRACES
        if t in line
    ]


async def test_an_erasure_removes_the_person_from_all_five_services(backend: Backend) -> None:
    await add_rep(backend)
    lead_id = await backend.post_lead(**PERSON)
    await backend.timeline_with(lead_id, "leadfarm.lead.assigned.v1")

    router = backend.client("router")
    noted = await router.post(
        f"/router/v1/leads/{lead_id}/activities",
        json={"channel": "call", "outcome": "no_answer", "note": "Quillon Vexbridge: call back"},
        headers=ADMIN,
    )
    assert noted.status_code == 201, noted.text
    rejected = await router.post(
        f"/router/v1/leads/{lead_id}/reject",
        json={"reason": "Quillon says not now", "disposition": "return"},
        headers=ADMIN,
    )
    assert rejected.status_code == 200, rejected.text
    events = await backend.timeline_with(lead_id, "leadfarm.nurture.enrolled.v1")
    captured = next(e for e in events if e["type"] == "leadfarm.lead.captured.v1")
    profile = LeadProfile.model_validate(captured["data"]["lead"])

    before = {table for table, _ in traces_in(await every_table(backend))}
    for service in ("ingest", "qualifier", "router", "nurture", "audit"):
        assert any(service in table for table in before), (service, before)

    audit = backend.client("audit")
    asked = await audit.post("/audit/v1/erasures", json={"lead_id": lead_id}, headers=ADMIN)
    assert asked.status_code == 201, asked.text
    erasure_id = asked.json()["id"]
    assert [c["service"] for c in asked.json()["confirmations"]] == ["audit"]

    async def complete() -> dict[str, Any] | None:
        response = await audit.get(f"/audit/v1/erasures/{erasure_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["complete"] else None

    progress = await eventually(complete, timeout=60)
    assert sorted(c["service"] for c in progress["confirmations"]) == sorted(SERVICES)
    assert progress["pending"] == []
    missing = await audit.get("/audit/v1/erasures/no-such-erasure", headers=ADMIN)
    assert missing.status_code == 404

    assert traces_in(await every_table(backend)) == []

    # A late event about the person (a re-sent qualification) brings nothing back: the
    # router and nurture ignore it, audit archives it redacted.
    late = make_envelope(
        LeadQualified.model_validate(
            {
                "lead_id": lead_id,
                "lead": profile.model_dump(mode="json"),
                "decision": {
                    "lifecycle": "prospect",
                    "stage": "sales_qualified",
                    "term": "short",
                    "score": 90,
                    "definition_version": "late",
                },
            }
        ),
        time=datetime.now(UTC),
    )
    await backend.inject("qualifier", lead_id, late.to_json())

    async def handled_everywhere() -> bool:
        for service in ("router", "nurture", "audit"):
            group = f"{backend.settings.topic_namespace}.{service}"
            async with backend.runtimes[service].units[service].read() as conn:
                seen = await conn.execute(
                    text("SELECT 1 FROM inbox WHERE event_id = :id AND consumer = :group"),
                    {"id": late.id, "group": group},
                )
                if seen.first() is None:
                    return False
        return True

    await eventually(handled_everywhere, timeout=30)
    assert traces_in(await every_table(backend), ignoring=late.id) == []
