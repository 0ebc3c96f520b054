"""Exponential decay by half-life: how much of a value is left some time after it was
true. Nurture's engagement score and the qualifier's stated intent both age this way."""

from __future__ import annotations


def remaining(age_days: float, half_life_days: float) -> float:
    """The share of a value left after `age_days`: 1 at 0, 0.5 after one half-life, 0.25
    after two. A negative age (a clock behind the event's) counts as none."""
    factor: float = 0.5 ** (max(age_days, 0.0) / half_life_days)
    return factor
