"""The qualifier's event handlers."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events import (
    ErasureRequested,
    LeadCaptured,
    LeadMerged,
    LeadRecycled,
    OpportunityClosed,
)
from qualifier.rules import Engagement
from qualifier.service import Profile, Qualifier
from services.consumer import Incoming
from services.db import Tx

LeadEvent = LeadCaptured | LeadMerged | LeadRecycled


class Consumers:
    def __init__(self, qualifier: Qualifier) -> None:
        self.qualifier = qualifier

    async def on_lead_events(self, tx: Tx, events: Sequence[Incoming[LeadEvent]]) -> None:
        """A run of lead.captured, lead.merged and lead.recycled, decided together."""
        await self.qualifier.on_profiles(tx, [_profile(e) for e in events])

    async def on_opportunity_closed(self, tx: Tx, event: Incoming[OpportunityClosed]) -> None:
        await self.qualifier.learn(tx, event.data)

    async def on_erasure_requested(self, tx: Tx, event: Incoming[ErasureRequested]) -> None:
        data = event.data
        await self.qualifier.erase(tx, data.lead_id, data.erasure_id, event.traceparent)


def _profile(event: Incoming[LeadEvent]) -> Profile:
    data = event.data
    if isinstance(data, LeadRecycled):
        engagement = Engagement(data.engagement_score, tuple(data.engagements))
        return Profile(data.lead_id, data.lead, "recycled", event.traceparent, engagement)
    if isinstance(data, LeadCaptured):
        return Profile(data.lead_id, data.lead, "captured", event.traceparent)
    return Profile(data.lead_id, data.lead, "merged", event.traceparent)
