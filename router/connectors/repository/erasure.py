"""Erasing a person from the connectors' tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from router.models import (
    connector_deliveries,
    crm_records,
)
from services import erasure
from services.db import Tx


async def erase_lead(tx: Tx, lead_id: str, values: set[str]) -> int:
    """An erased person is never written to a CRM: their waiting deliveries are dead, every
    delivery about them is redacted, and the CRM records Leadfarm wrote for them are
    forgotten (their activities then match no lead)."""
    await tx.conn.execute(delete(crm_records).where(crm_records.c.lead_id == lead_id))
    c = connector_deliveries.c
    rows = (
        await tx.conn.execute(
            select(c.id, c.payload, c.last_error, c.status).where(c.lead_id == lead_id)
        )
    ).all()
    for row in rows:
        values_out: dict[str, Any] = {
            "payload": erasure.redact_record(row.payload, values),
            "last_error": erasure.scrub_text(row.last_error, values) if row.last_error else None,
        }
        if row.status == "pending":
            values_out |= {
                "status": "dead",
                "next_attempt_at": None,
                "last_error": "not written: the person was erased",
            }
        await tx.conn.execute(update(connector_deliveries).where(c.id == row.id).values(values_out))
    return len(rows)
