"""Erasing a person from the router: its store, timers and own events, a tombstone, and the
confirmation, in one transaction.
"""

from __future__ import annotations

from contracts.events import RouterErasureCompleted
from router import repository
from router.domain import Domain
from router.sla import TIMER_KINDS
from services import erasure
from services.db import Tx


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
        return await erasure.erase_person(
            tx,
            lead_id,
            erasure_id,
            RouterErasureCompleted,
            profile=repository.erasure.profile_json,
            own_rows=repository.erasure.erase_lead,
            deadlines=TIMER_KINDS,
            traceparent=traceparent,
        )
