"""Percentiles."""

from __future__ import annotations

from typing import TypedDict


class Latency(TypedDict):
    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def latency_of(seconds: list[float]) -> Latency:
    """p50/p95/p99/max in milliseconds."""
    if not seconds:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    values = sorted(s * 1000 for s in seconds)
    return {
        "count": len(values),
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(values[-1], 2),
    }
