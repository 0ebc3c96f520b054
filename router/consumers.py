"""The router's event and timer handlers."""

from __future__ import annotations

from datetime import timedelta

from contracts.events import LeadQualified, SlaBreached
from router import repository, service
from router.service import FIRST_TOUCH
from router.settings import RouterSettings
from services.consumer import Incoming
from services.db import Tx
from services.outbox import emit
from services.timers import Timer

__all__ = ["FIRST_TOUCH", "Consumers"]


class Consumers:
    def __init__(self, settings: RouterSettings) -> None:
        self.first_touch = timedelta(minutes=settings.first_touch_minutes)

    async def on_lead_qualified(self, tx: Tx, event: Incoming[LeadQualified]) -> None:
        await service.assign(
            tx, event.data.lead_id, first_touch=self.first_touch, traceparent=event.traceparent
        )

    async def on_first_touch_due(self, tx: Tx, timer: Timer) -> None:
        """No touch by the deadline: the SLA is breached."""
        assignment = await repository.assignment_for(tx, timer.key)
        if assignment is None or assignment.touched_at is not None or assignment.rep_id is None:
            return
        await emit(
            tx,
            SlaBreached(
                lead_id=timer.key,
                rep_id=assignment.rep_id,
                sla="first_touch",
                due_at=timer.due_at,
            ),
        )
