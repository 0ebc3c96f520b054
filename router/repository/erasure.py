"""Erasing a person from the router's tables (its tombstones are the chassis's)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from router.models import (
    activities,
    assignments,
    deliveries,
    leads,
    opportunities,
)
from services import erasure
from services.db import Tx


async def profile_json(tx: Tx, lead_id: str) -> dict[str, Any] | None:
    row = (await tx.conn.execute(select(leads.c.profile).where(leads.c.lead_id == lead_id))).first()
    return dict(row.profile) if row is not None else None


async def erase_lead(tx: Tx, lead_id: str, values: set[str]) -> int:
    """Take the person out of the lead's profile and explanations, its assignments' and
    opportunities' text, reps' notes on it, and the webhooks about it (sent or waiting:
    a waiting one goes out redacted). Ids, reps, times, counts and amounts stay."""
    changed = await erasure.redact_rows(
        tx,
        leads,
        leads.c.lead_id == lead_id,
        values,
        json_columns=("profile", "explanation"),
        text_columns=("return_reason",),
    )
    changed += await erasure.redact_rows(
        tx, assignments, assignments.c.lead_id == lead_id, values, json_columns=("explanation",)
    )
    changed += await erasure.redact_rows(
        tx, activities, activities.c.lead_id == lead_id, values, blank_columns=("note",)
    )
    changed += await erasure.redact_rows(
        tx,
        opportunities,
        opportunities.c.lead_id == lead_id,
        values,
        text_columns=("name", "reason"),
    )
    rows = (
        await tx.conn.execute(
            select(deliveries.c.id, deliveries.c.payload, deliveries.c.last_error).where(
                deliveries.c.lead_id == lead_id
            )
        )
    ).all()
    for row in rows:
        payload = erasure.redact_record(row.payload, values)
        last_error = erasure.scrub_text(row.last_error, values) if row.last_error else None
        if (payload, last_error) != (row.payload, row.last_error):
            await tx.conn.execute(
                update(deliveries)
                .where(deliveries.c.id == row.id)
                .values(payload=payload, last_error=last_error)
            )
            changed += 1
    from router.connectors import repository as connectors_repository

    changed += await connectors_repository.erasure.erase_lead(tx, lead_id, values)
    return changed
