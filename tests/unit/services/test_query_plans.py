"""No statement on a lead's path scans a table that grows with the leads, on SQLite.

The embedded runtime keeps every lead, delivery, event and inbox row for months: a read that
SQLite cannot answer from an index is a scan that costs more with every lead (ingest's round
lookup scanned every delivery, because a row-value IN cannot search a partial index). This
runs leads through the embedded runtime, records every statement it ran, and asks SQLite
for each one's plan: a full scan of a table holding a row per lead (or more) fails it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from ingest.roundstore import _LOOKUP
from services import sqlplan
from tests.backends import ADMIN, EmbeddedBackend

LEADS = 4
_SCAN = re.compile(r"^SCAN (\w+)")


async def test_no_statement_on_a_leads_path_scans_a_growing_table(
    embedded: EmbeddedBackend,
) -> None:
    ran: list[tuple[str, Any]] = []

    def note(_c: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        ran.append((statement, parameters[0] if many and parameters else parameters))

    engine = embedded.runtime.units["ingest"].database.engine.sync_engine
    response = await embedded.client("router").post(
        "/router/v1/reps",
        json={"id": "ana", "name": "Ana", "email": "ana@example.com"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    sa.event.listen(engine, "before_cursor_execute", note)
    leads = [
        await embedded.post_lead(
            email=f"lead{i}@acme{i}.example",
            company=f"Acme {i}",
            country="de",
            source="website",
            timeframe_days=30,
            asked_to_be_contacted=True,
        )
        for i in range(LEADS)
    ]
    for lead_id in leads:
        await embedded.timeline_with(lead_id, "leadfarm.lead.assigned.v1")
    sa.event.remove(engine, "before_cursor_execute", note)

    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        tables = [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        growing = {
            t for t in tables if raw.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] >= LEADS
        }
        assert {"ingest_leads", "outbox", "inbox", "audit_events"} <= growing
        scans: dict[str, set[str]] = {}
        for statement, parameters in ran:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE", "DELETE")):
                continue
            for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters or ()):
                match = _SCAN.match(row[3])
                if match and match.group(1) in growing:
                    scans.setdefault(" ".join(statement.split())[:200], set()).add(row[3])
    assert len(ran) > 50, "the leads' statements were recorded"
    assert not scans, scans


async def test_ingests_round_lookup_searches_deliveries_by_index(
    embedded: EmbeddedBackend,
) -> None:
    """The lookup with delivery pairs in it (which `post_lead` above does not send)."""
    plan = sqlplan.compiled(
        _LOOKUP,
        (
            "deliveries",
            "delivery_ids",
            "delivery_sources",
            "emails",
            "keys",
            "now",
            "phones",
            "signatures",
        ),
        sqlite.dialect(),
    )
    assert plan is not None
    sql, values = plan.bound(
        {
            "emails": ["a@b.example"],
            "phones": ["+4930123"],
            "deliveries": [("hubspot", "e-1"), ("typeform", "e-2")],
            "delivery_sources": ["hubspot", "typeform"],
            "delivery_ids": ["e-1", "e-2"],
            "signatures": [("hubspot", "s")],
            "now": datetime(2026, 12, 6, tzinfo=UTC),
            "keys": ["k"],
        }
    )
    engine = embedded.runtime.units["ingest"].database.engine.sync_engine
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        details = [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", values)]
    scanned = [d for d in details if _SCAN.match(d) and "CONSTANT ROW" not in d]
    assert not scanned, details
    assert any("ux_ingest_deliveries_external" in d for d in details), details
