"""The garbage collector's settings for a started service (services/gcpolicy.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from services import gcpolicy


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    callbacks = list(gc.callbacks)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.callbacks[:] = callbacks


def collected_seconds(generation: int) -> float:
    value = REGISTRY.get_sample_value("leadfarm_gc_seconds_total", {"generation": str(generation)})
    return value or 0.0


def test_settling_freezes_what_the_process_holds_and_spaces_out_young_collections(
    restored_gc: None,
) -> None:
    kept = [object() for _ in range(1000)]
    gcpolicy.settle()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == gcpolicy.GEN0_THRESHOLD
    assert REGISTRY.get_sample_value("leadfarm_gc_frozen_objects") == gc.get_freeze_count()


def test_the_collectors_time_is_counted_by_generation(restored_gc: None) -> None:
    gcpolicy.measure()
    gcpolicy.measure()  # once per process, however often asked
    assert gc.callbacks.count(gcpolicy._observe) == 1
    before = collected_seconds(2)
    gc.collect()
    assert collected_seconds(2) > before
