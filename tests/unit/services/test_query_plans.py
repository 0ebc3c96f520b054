"""Ingest's round lookup searches deliveries by index on SQLite, pairs and all: a row-value
IN alone cannot search the partial unique index on (source, external_id), and scanned every
stored delivery. Every statement of a lead's path, on both runtimes:
tests/integration/test_query_plans.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy.dialects import sqlite

from ingest.roundstore import _LOOKUP
from services import sqlplan
from tests.backends import EmbeddedBackend

LEADS = 4
_SCAN = re.compile(r"^SCAN (\w+)")


async def test_ingests_round_lookup_searches_deliveries_by_index(
    embedded: EmbeddedBackend,
) -> None:
    """The lookup with delivery pairs in it (which `post_lead` does not send)."""
    plan = sqlplan.compiled(
        _LOOKUP,
        (
            "answers_since",
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
            "answers_since": datetime(2026, 12, 5, tzinfo=UTC),
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
