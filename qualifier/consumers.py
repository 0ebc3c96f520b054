"""The qualifier's event handlers."""

from __future__ import annotations

from contracts.events import (
    LeadCaptured,
    LeadDeferred,
    LeadDisqualified,
    LeadProfile,
    LeadQualified,
    LeadRecycled,
)
from qualifier import repository
from qualifier.service import decide
from services.consumer import Incoming
from services.db import Tx
from services.outbox import emit


async def on_lead_captured(tx: Tx, event: Incoming[LeadCaptured]) -> None:
    await _qualify(tx, event.data.lead_id, event.data.lead, event.traceparent)


async def on_lead_recycled(tx: Tx, event: Incoming[LeadRecycled]) -> None:
    await _qualify(tx, event.data.lead_id, event.data.lead, event.traceparent)


async def _qualify(tx: Tx, lead_id: str, lead: LeadProfile, traceparent: str) -> None:
    verdict = decide(lead)
    await repository.save_decision(tx, lead_id, verdict)
    if verdict.outcome == "qualified":
        await emit(
            tx,
            LeadQualified(lead_id=lead_id, decision=verdict.decision, lead=lead),
            traceparent=traceparent,
        )
    elif verdict.outcome == "deferred":
        await emit(
            tx,
            LeadDeferred(lead_id=lead_id, decision=verdict.decision, lead=lead),
            traceparent=traceparent,
        )
    else:
        await emit(
            tx,
            LeadDisqualified(
                lead_id=lead_id,
                reason="; ".join(verdict.decision.reasons),
                definition_version=verdict.decision.definition_version,
            ),
            traceparent=traceparent,
        )
