"""nurture's event and timer handlers."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events import (
    ErasureRequested,
    LeadDeferred,
    LeadDisqualified,
    LeadQualified,
    LeadReturned,
)
from nurture import erasure
from nurture.senders import Sender
from nurture.service import Nurture
from services.consumer import Incoming
from services.db import Tx
from services.timers import Timer


class Consumers:
    def __init__(self, nurture: Nurture, sender: Sender | None = None) -> None:
        self.nurture = nurture
        self.sender = sender

    async def on_lead_deferred(self, tx: Tx, event: Incoming[LeadDeferred]) -> None:
        data = event.data
        reason = f"deferred: {data.decision.term}-term {data.decision.lifecycle}"
        await self.nurture.tracks.on_lead(
            tx, data.lead_id, data.lead, "deferred", reason, None, event.traceparent
        )

    async def on_lead_returned(self, tx: Tx, event: Incoming[LeadReturned]) -> None:
        data = event.data
        # The router's reason code (cadence_exhausted, cadence_expired, rejected), when it
        # sends one, is matched by the tracks' returned_reasons along with the reason.
        code = getattr(data, "reason_code", None)
        await self.nurture.tracks.on_lead(
            tx,
            data.lead_id,
            data.lead,
            "returned",
            f"returned: {data.reason}",
            f"{code or ''} {data.reason}",
            event.traceparent,
        )

    async def on_leads_decided(
        self, tx: Tx, events: Sequence[Incoming[LeadQualified | LeadDisqualified]]
    ) -> None:
        """Sales-ready by another path (a new form, a re-evaluation), or disqualified: stop
        nurturing them."""
        reasons = [
            (
                e.data.lead_id,
                f"disqualified: {e.data.reason}"
                if isinstance(e.data, LeadDisqualified)
                else "qualified: sales-ready, routed to sales",
            )
            for e in events
        ]
        await self.nurture.tracks.exit(tx, reasons)

    async def on_touch_due(self, tx: Tx, timer: Timer) -> None:
        await self.nurture.tracks.step_due(tx, timer.key)

    async def on_erasure_requested(self, tx: Tx, event: Incoming[ErasureRequested]) -> None:
        data = event.data
        outcome = await erasure.erase_requested(
            tx, data.lead_id, data.erasure_id, event.traceparent
        )
        if self.sender is not None:
            # The sender's copies (e.g. the file sender's .eml files) are outside the
            # database; forgetting them early is harmless if this transaction rolls back
            # (the retried erasure forgets nothing more).
            await self.sender.erase(outcome.message_ids)
