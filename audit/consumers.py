"""audit's event handler: every event type on every topic goes through one handler, which
archives the event once and updates the read models it speaks to."""

from __future__ import annotations

from typing import Any

from audit.service import Audit
from services.consumer import Incoming
from services.db import Tx


class Consumers:
    def __init__(self, audit: Audit) -> None:
        self.audit = audit

    async def on_event(self, tx: Tx, event: Incoming[Any]) -> None:
        await self.audit.handle(tx, event.envelope, event.data)
