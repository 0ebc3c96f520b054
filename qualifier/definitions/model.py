"""The validated qualification definitions: the criteria the qualifier evaluates and the
rules, points and profile a definitions file gives them. `qualifier.definitions.schema`
reads a file into these; `qualifier.rules` applies them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Term = Literal["short", "long"]

# The criteria the qualifier can evaluate. Definitions give them points and combine them
# into the lifecycle and stage rules; the code decides whether each one matched.
BASIC_CRITERIA = ("reachable", "named")
FIT_CRITERIA = (
    "company",
    "business_email",
    "icp_industry",
    "icp_employees",
    "icp_country",
    "icp_title",
    "icp_product",
)
INTENT_CRITERIA = (
    "product_interest",
    "need",
    "budget",
    "timeframe",
    "short_term",
    "asked_to_be_contacted",
    "engagement",
)
CRITERIA = BASIC_CRITERIA + FIT_CRITERIA + INTENT_CRITERIA
DISQUALIFIERS = (
    "test_lead",
    "no_contact",
    "competitor",
    "free_mail",
    "student_or_job_seeker",
    "badge_scan_without_interest",
)
SOURCE_CLASSES = ("marketing", "events", "referrals", "rep_prospecting")

# --- the validated definitions --------------------------------------------------------------


class Keywords:
    """Case-insensitive whole-word keywords ("vp" matches "VP Sales", not "mvp")."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = tuple(words)
        alternation = "|".join(
            re.escape(w.lower()) for w in sorted(self.words, key=len, reverse=True)
        )
        self._pattern = re.compile(rf"(?<!\w)(?:{alternation})(?!\w)") if self.words else None

    def find(self, text: str | None) -> str | None:
        """The first keyword `text` mentions, or None."""
        if self._pattern is None or not text:
            return None
        match = self._pattern.search(text.lower())
        return match.group(0) if match else None

    def __bool__(self) -> bool:
        return bool(self.words)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keywords) and other.words == self.words

    def __hash__(self) -> int:
        return hash(self.words)

    def __repr__(self) -> str:
        return f"Keywords({list(self.words)!r})"


@dataclass(frozen=True)
class EmployeeRange:
    min: int
    max: int | None = None

    def contains(self, employees: int) -> bool:
        return employees >= self.min and (self.max is None or employees <= self.max)

    def __str__(self) -> str:
        return f"{self.min}+" if self.max is None else f"{self.min}-{self.max}"


@dataclass(frozen=True)
class IdealCustomerProfile:
    industries: Keywords = field(default_factory=lambda: Keywords(()))
    employees: tuple[EmployeeRange, ...] = ()
    countries: frozenset[str] = frozenset()
    titles: Keywords = field(default_factory=lambda: Keywords(()))
    product_interests: Keywords = field(default_factory=lambda: Keywords(()))


@dataclass(frozen=True)
class Disqualifiers:
    test_lead: bool = True
    no_contact: bool = True
    free_mail: bool = False
    competitor_domains: tuple[str, ...] = ()
    student_or_job_seeker: Keywords = field(default_factory=lambda: Keywords(()))
    badge_scan_source_classes: tuple[str, ...] = ()
    badge_scan_interest: tuple[str, ...] = ("product_interest", "need", "asked_to_be_contacted")


@dataclass(frozen=True)
class Rule:
    """Holds when any of `any_of` matched (or `any_of` is empty) and all of `all_of` did."""

    any_of: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()

    def holds(self, matched: set[str]) -> bool:
        return (not self.any_of or any(c in matched for c in self.any_of)) and all(
            c in matched for c in self.all_of
        )

    def describe(self) -> str:
        parts = []
        if self.any_of:
            parts.append("any of " + ", ".join(self.any_of))
        if self.all_of:
            parts.append("all of " + ", ".join(self.all_of))
        return " and ".join(parts) or "always"


@dataclass(frozen=True)
class EngagementPoints:
    """What nurture engagement is worth: up to `points` intent points, all of them at an
    engagement score of `full_at`; an engagement of a `hand_raise` type counts as asked to
    be contacted."""

    points: int = 0
    full_at: float = 100.0
    hand_raise: tuple[str, ...] = ()


@dataclass(frozen=True)
class Definitions:
    version: str
    description: str = ""
    icp: IdealCustomerProfile = field(default_factory=IdealCustomerProfile)
    disqualifiers: Disqualifiers = field(default_factory=Disqualifiers)
    target: Rule = Rule(any_of=("company", "business_email"))
    suspect: Rule = Rule(any_of=("timeframe", "need", "product_interest"))
    prospect: Rule = Rule(all_of=("asked_to_be_contacted",))
    basic_requires: tuple[str, ...] = ("reachable",)
    sales_requires: tuple[str, ...] = ("asked_to_be_contacted", "timeframe")
    sales_min_score: int = 0
    selection_window_days: int = 365
    short_term_days: int = 90
    without_timeframe: Term = "long"
    points: dict[str, int] = field(default_factory=dict)
    engagement: EngagementPoints = field(default_factory=EngagementPoints)
    intent_half_life_days: float | None = None
    """Stated intent's points halve every this many days since the last intent signal;
    None: intent does not decay."""

    def points_for(self, criterion: str) -> int:
        if criterion == "engagement":
            return self.engagement.points
        return self.points.get(criterion, 0)
