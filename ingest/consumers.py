"""ingest's event handler: it hears only erasure requests (everything else it says)."""

from __future__ import annotations

from contracts.events import ErasureRequested
from ingest import service
from services.consumer import Incoming
from services.db import Tx


async def on_erasure_requested(tx: Tx, event: Incoming[ErasureRequested]) -> None:
    await service.erase(tx, event.data.lead_id, event.data.erasure_id, event.traceparent)
