"""The qualifier's event handlers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from contracts.events import (
    ErasureRequested,
    LeadCaptured,
    LeadMerged,
    LeadRecycled,
    OpportunityClosed,
)
from qualifier.rules import NurtureEngagement
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
    """The event's lead to decide. A form (captured, merged) and a hand raised in nurture
    are intent signals, at the event's time; nurture recycling a lead on its engagement
    score is not one (nurture ages that score itself)."""
    data = event.data
    at = event.envelope.time
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # CloudEvents time is UTC
    if isinstance(data, LeadRecycled):
        engagement = NurtureEngagement(data.engagement_score, tuple(data.engagements))
        signal = at if data.hand_raise else None
        return Profile(data.lead_id, data.lead, "recycled", event.traceparent, engagement, signal)
    if isinstance(data, LeadCaptured):
        return Profile(data.lead_id, data.lead, "captured", event.traceparent, intent_at=at)
    return Profile(data.lead_id, data.lead, "merged", event.traceparent, intent_at=at)
