"""The cyclic garbage collector, set for a long-running service.

A started Leadfarm process holds a few hundred thousand long-lived objects (SQLAlchemy's
tables and compiled statements, pydantic's models, FastAPI's routes) and makes short-lived
ones at a high rate (a lead's events, rows, requests). With CPython's defaults every 700
allocations start a young collection and every hundredth of those a full one that walks
every object in the process: under load a full collection every few hundred milliseconds,
each pausing the event loop for milliseconds. So, once the runtime has started:

- `gc.freeze()` moves everything alive then into a permanent generation that collections
  never walk (what the process is made of, not what it handles);
- young collections start after GEN0_THRESHOLD allocations instead of 700, so they run
  less often over more objects, most of them already gone (reference counting frees
  everything that is not in a cycle).

`leadfarm_gc_seconds_total` says what collections cost, by generation.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from services import metrics

GEN0_THRESHOLD = 20_000
_started: dict[int, float] = {}


def _observe(phase: str, info: dict[str, Any]) -> None:
    generation = int(info.get("generation", 0))
    if phase == "start":
        _started[generation] = time.perf_counter()
    elif generation in _started:
        metrics.GC_SECONDS.labels(str(generation)).inc(
            time.perf_counter() - _started.pop(generation)
        )


def measure() -> None:
    """Count the collector's time in `leadfarm_gc_seconds_total` (once per process)."""
    if _observe not in gc.callbacks:
        gc.callbacks.append(_observe)


def settle() -> None:
    """After start-up: freeze what the process is made of and space out collections."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
    metrics.GC_FROZEN_OBJECTS.set(gc.get_freeze_count())
