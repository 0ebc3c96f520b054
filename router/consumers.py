"""The router's event handlers (timer handlers are the `Router`'s own methods)."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events import ErasureRequested, LeadQualified
from router.service import Router
from services.consumer import Incoming
from services.db import Tx


class Consumers:
    def __init__(self, router: Router) -> None:
        self.router = router

    async def on_leads_qualified(self, tx: Tx, events: Sequence[Incoming[LeadQualified]]) -> None:
        await self.router.on_qualified(tx, events)

    async def on_erasure_requested(self, tx: Tx, event: Incoming[ErasureRequested]) -> None:
        data = event.data
        await self.router.erase(tx, data.lead_id, data.erasure_id, event.traceparent)
