"""nurture's event and timer handlers."""

from __future__ import annotations

from contracts.events import LeadDeferred, LeadReturned
from nurture import service
from services.consumer import Incoming
from services.db import Tx
from services.timers import Timer


async def on_lead_deferred(tx: Tx, event: Incoming[LeadDeferred]) -> None:
    reason = f"deferred: {event.data.decision.term}-term, {event.data.decision.lifecycle}"
    await service.enrol(tx, event.data.lead_id, reason, event.traceparent)


async def on_lead_returned(tx: Tx, event: Incoming[LeadReturned]) -> None:
    await service.enrol(tx, event.data.lead_id, f"returned: {event.data.reason}", event.traceparent)


async def on_touch_due(tx: Tx, timer: Timer) -> None:
    await service.touch(tx, timer.key)
