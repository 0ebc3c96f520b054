"""Each service's outbox relay takes a lock of its own."""

from __future__ import annotations

from contracts.topics import SERVICES
from services.outbox import advisory_lock_id


def test_every_service_relay_has_its_own_advisory_lock() -> None:
    ids = {advisory_lock_id(service) for service in SERVICES}
    assert len(ids) == len(SERVICES)
    assert all(0 < i < 2**63 for i in ids)
    assert advisory_lock_id("router") == advisory_lock_id("router")  # stable across processes
