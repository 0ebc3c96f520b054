"""audit's event handler: every event type on every topic goes to one batch handler, so a
fetch is one run: archived with one multi-row insert and projected per table, not per
event (see `Audit.project`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audit.service import Audit
from services.consumer import Incoming
from services.db import Tx


class Consumers:
    def __init__(self, audit: Audit) -> None:
        self.audit = audit

    async def on_events(self, tx: Tx, events: Sequence[Incoming[Any]]) -> None:
        await self.audit.project(tx, [(event.envelope, event.data) for event in events])
