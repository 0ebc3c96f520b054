"""Erasing a person from the router: its store, timers and own events, a tombstone, and the
confirmation, in one transaction.
"""

from __future__ import annotations

from contracts.events import RouterErasureCompleted
from router import repository
from router.domain import Domain
from router.sla import TIMER_KINDS
from services import erasure, timers
from services.db import Tx
from services.outbox import emit


class Erasure(Domain):
    """Erasing a person from the router."""

    async def erase(
        self, tx: Tx, lead_id: str, erasure_id: str, traceparent: str | None = None
    ) -> int:
        """Erase the person from the router's store, its timers and its own events, keep a
        tombstone (late events about the lead are then ignored) and confirm, in one
        transaction. The assignment stays (it holds no personal data), but its pending
        deadlines are cancelled: nobody is to call an erased person, so a missed first touch
        neither moves the lead to another rep nor counts against the rep."""
        profile = await repository.erasure.profile_json(tx, lead_id)
        values = erasure.personal_values(profile or {})
        values |= await erasure.outbox_values(tx, lead_id)
        changed = await repository.erasure.erase_lead(tx, lead_id, values)
        for kind in TIMER_KINDS:
            await timers.cancel(tx, kind, lead_id)
        changed += await erasure.redact_timers(tx, [lead_id], values)
        changed += await erasure.redact_outbox(tx, lead_id, values)
        await repository.erasure.put_tombstone(tx, lead_id, erasure_id)
        await emit(
            tx,
            RouterErasureCompleted(lead_id=lead_id, erasure_id=erasure_id, records=changed),
            traceparent=traceparent,
        )
        return changed
