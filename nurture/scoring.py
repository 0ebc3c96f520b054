"""The engagement score: each engagement's points, halved every `half_life_days` since it
happened, summed. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.decay import remaining


def decayed(points: float, at: datetime, now: datetime, half_life_days: float) -> float:
    return points * remaining((now - at).total_seconds() / 86400.0, half_life_days)


def score(items: Iterable[tuple[datetime, float]], now: datetime, half_life_days: float) -> float:
    """The decayed sum of (at, points), rounded to two decimals."""
    return round(sum(decayed(p, at, now, half_life_days) for at, p in items), 2)
