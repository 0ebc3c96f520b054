"""Learning from closed opportunities: per-attribute win frequencies, naive-Bayes style.

Every `opportunity.closed` (won or lost) counts the closed lead's attributes (industry,
employee band, country, source class, title seniority, product interests) as a win or a
loss. The model estimates P(win | attributes) with Laplace smoothing; once it rests on
`min_outcomes` outcomes, the qualifier blends it into the rule score:

    score = (1 - weight) * rule_score + weight * 100 * P(win | attributes)

Everything here is pure: the repository stores the counts, `Model` reads them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from contracts.events import LeadProfile

ATTRIBUTES = (
    "industry",
    "employee_band",
    "country",
    "source_class",
    "seniority",
    "product_interest",
)
MAX_VALUE = 200

# Upper bounds (inclusive) of the employee bands, smallest first.
EMPLOYEE_BANDS = ((9, "1-9"), (49, "10-49"), (249, "50-249"), (999, "250-999"), (4999, "1000-4999"))

# Title seniority, most senior first; the first level with a keyword in the title wins.
SENIORITY: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "c_level",
        (
            "ceo",
            "cfo",
            "cto",
            "coo",
            "cmo",
            "cro",
            "cio",
            "chief",
            "founder",
            "co-founder",
            "owner",
            "president",
            "managing director",
            "geschäftsführer",
        ),
    ),
    ("vp", ("vp", "vice president", "svp", "evp")),
    ("director", ("director", "head")),
    ("manager", ("manager", "lead", "leiter", "leiterin", "supervisor")),
)
_SENIORITY_PATTERNS = tuple(
    (level, re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)"))
    for level, words in SENIORITY
)


def employee_band(employees: int | None) -> str | None:
    if employees is None or employees < 1:
        return None
    for upper, band in EMPLOYEE_BANDS:
        if employees <= upper:
            return band
    return "5000+"


def seniority(job_title: str | None) -> str | None:
    if not job_title or not job_title.strip():
        return None
    title = job_title.lower()
    for level, pattern in _SENIORITY_PATTERNS:
        if pattern.search(title):
            return level
    return "individual"


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(value.lower().split())[:MAX_VALUE]
    return cleaned or None


def features(lead: LeadProfile) -> dict[str, list[str]]:
    """The lead's learnable attributes (attribute -> values; absent ones are left out)."""
    single = {
        "industry": _clean(lead.industry),
        "employee_band": employee_band(lead.employees),
        "country": lead.country.upper() if lead.country else None,
        "source_class": lead.source_class,
        "seniority": seniority(lead.job_title),
    }
    out = {name: [value] for name, value in single.items() if value}
    interests = sorted({c for c in (_clean(p) for p in lead.product_interest) if c})
    if interests:
        out["product_interest"] = interests
    return out


@dataclass(frozen=True)
class Counts:
    wins: int = 0
    losses: int = 0

    @property
    def outcomes(self) -> int:
        return self.wins + self.losses


@dataclass(frozen=True)
class Lift:
    attribute: str
    value: str
    wins: int
    losses: int
    win_rate: float
    lift: float

    @property
    def outcomes(self) -> int:
        return self.wins + self.losses


@dataclass(frozen=True)
class Model:
    """Win and loss counts overall and per (attribute, value), and how to use them."""

    total: Counts = Counts()
    counts: Mapping[tuple[str, str], Counts] = field(default_factory=dict)
    min_outcomes: int = 20
    weight: float = 0.3
    alpha: float = 1.0

    @property
    def outcomes(self) -> int:
        return self.total.outcomes

    @property
    def active(self) -> bool:
        """Enough outcomes to be trusted, and a weight to blend with."""
        return self.outcomes >= self.min_outcomes and self.weight > 0

    @property
    def version(self) -> str | None:
        """The version a decision names: `nb-<outcomes>`, or None while not active."""
        return f"nb-{self.outcomes}" if self.active else None

    def with_outcome(self, lead: LeadProfile, won: bool, times: int = 1) -> Model:
        """This model after learning one more outcome (`times` < 0 forgets it)."""
        counts = dict(self.counts)
        for attribute, values in features(lead).items():
            for value in values:
                counts[(attribute, value)] = _add(counts.get((attribute, value)), won, times)
        return Model(
            total=_add(self.total, won, times),
            counts=counts,
            min_outcomes=self.min_outcomes,
            weight=self.weight,
            alpha=self.alpha,
        )

    def win_probability(self, lead: LeadProfile) -> float:
        """P(win | the lead's attributes), naive Bayes with Laplace smoothing."""
        a = self.alpha
        wins, losses = self.total.wins, self.total.losses
        log_odds = math.log((wins + a) / (losses + a))
        distinct = self._distinct_values()
        for attribute, values in features(lead).items():
            k = distinct.get(attribute, 0) + 1  # +1: a value never seen yet
            for value in values:
                c = self.counts.get((attribute, value), Counts())
                p_win = (c.wins + a) / (wins + a * k)
                p_loss = (c.losses + a) / (losses + a * k)
                log_odds += math.log(p_win / p_loss)
        return 1.0 / (1.0 + math.exp(-max(min(log_odds, 50.0), -50.0)))

    def blend(self, rule_score: int, lead: LeadProfile) -> tuple[int, float | None]:
        """(score, win probability) for a lead whose rules gave `rule_score`."""
        if not self.active:
            return rule_score, None
        p = self.win_probability(lead)
        score = round((1 - self.weight) * rule_score + self.weight * 100 * p)
        return max(0, min(100, score)), round(p, 4)

    def lifts(self) -> list[Lift]:
        """Every attribute value with its smoothed win rate and its lift over the base rate,
        most lift first."""
        a = self.alpha
        base = (self.total.wins + a) / (self.total.outcomes + 2 * a)
        out = []
        for (attribute, value), c in self.counts.items():
            if c.outcomes <= 0:
                continue
            rate = (c.wins + a) / (c.outcomes + 2 * a)
            out.append(
                Lift(attribute, value, c.wins, c.losses, round(rate, 4), round(rate / base, 4))
            )
        return sorted(out, key=lambda x: (-x.lift, -x.outcomes, x.attribute, x.value))

    def _distinct_values(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (attribute, _), c in self.counts.items():
            if c.outcomes > 0:
                out[attribute] = out.get(attribute, 0) + 1
        return out


def _add(counts: Counts | None, won: bool, times: int) -> Counts:
    c = counts or Counts()
    if won:
        return Counts(max(0, c.wins + times), c.losses)
    return Counts(c.wins, max(0, c.losses + times))


def train(
    outcomes: Iterable[tuple[LeadProfile, bool]], *, min_outcomes: int = 20, weight: float = 0.3
) -> Model:
    """A model learned from (lead, won) pairs (tests and offline checks)."""
    model = Model(min_outcomes=min_outcomes, weight=weight)
    for lead, won in outcomes:
        model = model.with_outcome(lead, won)
    return model
