"""audit's event handler: every event type on every topic goes to one batch handler, so a
fetch is one run: archived with one multi-row insert and projected per table, not per
event (see `Archive.project`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audit.archive import Archive
from services.consumer import Incoming
from services.db import Tx


class Consumers:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    async def on_events(self, tx: Tx, events: Sequence[Incoming[Any]]) -> None:
        await self.archive.project(tx, [(event.envelope, event.data) for event in events])
