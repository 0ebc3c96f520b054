"""The qualifier's event handlers."""

from __future__ import annotations

from contracts.events import (
    ErasureRequested,
    LeadCaptured,
    LeadMerged,
    LeadRecycled,
    OpportunityClosed,
)
from qualifier.rules import Engagement
from qualifier.service import Qualifier
from services.consumer import Incoming
from services.db import Tx


class Consumers:
    def __init__(self, qualifier: Qualifier) -> None:
        self.qualifier = qualifier

    async def on_lead_captured(self, tx: Tx, event: Incoming[LeadCaptured]) -> None:
        data = event.data
        await self.qualifier.on_profile(tx, data.lead_id, data.lead, "captured", event.traceparent)

    async def on_lead_merged(self, tx: Tx, event: Incoming[LeadMerged]) -> None:
        data = event.data
        await self.qualifier.on_profile(tx, data.lead_id, data.lead, "merged", event.traceparent)

    async def on_lead_recycled(self, tx: Tx, event: Incoming[LeadRecycled]) -> None:
        data = event.data
        engagement = Engagement(data.engagement_score, tuple(data.engagements))
        await self.qualifier.on_profile(
            tx, data.lead_id, data.lead, "recycled", event.traceparent, engagement
        )

    async def on_opportunity_closed(self, tx: Tx, event: Incoming[OpportunityClosed]) -> None:
        await self.qualifier.learn(tx, event.data)

    async def on_erasure_requested(self, tx: Tx, event: Incoming[ErasureRequested]) -> None:
        data = event.data
        await self.qualifier.erase(tx, data.lead_id, data.erasure_id, event.traceparent)
