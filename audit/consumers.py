"""audit's event handler: archive every event once."""

from __future__ import annotations

from typing import Any

from audit.models import events
from services.consumer import Incoming
from services.db import Tx


async def archive(tx: Tx, event: Incoming[Any]) -> None:
    envelope = event.envelope
    await tx.conn.execute(
        events.insert().values(
            event_id=envelope.id,
            lead_id=envelope.subject,
            type=envelope.type,
            source=envelope.source,
            time=envelope.time,
            envelope=envelope.model_dump(mode="json"),
            recorded_at=tx.now(),
        )
    )
