"""`skip_erased_batch`: the guard keeps the shape of the handler map the runner groups by."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from contracts.events import ErasureRequested, LeadCaptured, LeadMerged, LeadRecycled
from services.consumer import Incoming
from services.db import Tx
from services.erasure import skip_erased_batch


async def test_types_sharing_a_batch_handler_still_share_one_when_guarded() -> None:
    async def lead_events(tx: Tx, events: Sequence[Incoming[Any]]) -> None: ...

    async def erasures(tx: Tx, events: Sequence[Incoming[Any]]) -> None: ...

    async def erased_among(tx: Tx, lead_ids: Collection[str]) -> set[str]:
        return set()

    guarded = skip_erased_batch(
        {
            LeadCaptured: lead_events,
            LeadMerged: lead_events,
            LeadRecycled: lead_events,
            ErasureRequested: erasures,
        },
        erased_among,
    )
    # The consumer runner hands consecutive events to one call when their types map to the
    # same function: a guard per type would split every run of mixed types.
    assert guarded[LeadCaptured] is guarded[LeadMerged] is guarded[LeadRecycled]
    assert guarded[LeadCaptured] is not lead_events
    assert guarded[ErasureRequested] is erasures
