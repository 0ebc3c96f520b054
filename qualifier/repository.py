"""All of the qualifier's SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from qualifier.models import decisions
from qualifier.service import Verdict
from services.db import ReadConn, Tx


async def save_decision(tx: Tx, lead_id: str, verdict: Verdict) -> None:
    d = verdict.decision
    await tx.conn.execute(delete(decisions).where(decisions.c.lead_id == lead_id))
    await tx.conn.execute(
        decisions.insert().values(
            lead_id=lead_id,
            outcome=verdict.outcome,
            lifecycle=d.lifecycle,
            stage=d.stage,
            term=d.term,
            score=d.score,
            definition_version=d.definition_version,
            reasons=d.reasons,
            decided_at=tx.now(),
        )
    )


async def get_decision(conn: ReadConn, lead_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(decisions).where(decisions.c.lead_id == lead_id))).first()
    return dict(row._mapping) if row else None
