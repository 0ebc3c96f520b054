"""The router's event handlers (timer handlers are the `Router`'s own methods)."""

from __future__ import annotations

from contracts.events import LeadQualified
from router.service import Router
from services.consumer import Incoming
from services.db import Tx


class Consumers:
    def __init__(self, router: Router) -> None:
        self.router = router

    async def on_lead_qualified(self, tx: Tx, event: Incoming[LeadQualified]) -> None:
        await self.router.on_qualified(
            tx,
            event.data.lead_id,
            event.data.lead,
            event.data.decision.score,
            event.traceparent,
        )
