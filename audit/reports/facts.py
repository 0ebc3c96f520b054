"""The facts every report is computed from, the `Report` they give, and the arithmetic
they share (money, rates, percentiles, periods, grouping)."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, cast

from contracts.events import SourceClass

SOURCE_CLASSES = ("marketing", "events", "referrals", "rep_prospecting")
STAGES = ("raw", "basic_qualified", "sales_qualified", "accepted", "opportunity", "won")
AUDIT_OUTCOMES = ("still_evaluating", "bought_from_us", "bought_from_competitor", "no_decision")
PERCENTILES = (50, 75, 90, 95)
UNKNOWN = "unknown"
TOTAL = "(total)"

LeadDimension = Literal["source", "source_class", "rep_id"]
Interval = Literal["month", "week"]


# --- facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadFact:
    lead_id: str
    source: str
    source_class: str
    cohort_at: datetime
    stage_rank: int = 0
    rep_id: str | None = None
    assigned_at: datetime | None = None
    first_touch_due_at: datetime | None = None
    first_touch_at: datetime | None = None
    accepted_at: datetime | None = None
    opportunity_at: datetime | None = None
    won_at: datetime | None = None
    lost_at: datetime | None = None
    disqualified_at: datetime | None = None

    def reached(self) -> set[str]:
        """The funnel stages the lead reached. Each stage implies the ones before it (a won
        lead was an opportunity, was accepted, ...), so the funnel never widens."""
        won = self.won_at is not None
        opportunity = won or self.opportunity_at is not None or self.lost_at is not None
        accepted = opportunity or self.accepted_at is not None
        sales = accepted or self.stage_rank >= 2
        basic = sales or self.stage_rank >= 1
        flags = (True, basic, sales, accepted, opportunity, won)
        return {stage for stage, on in zip(STAGES, flags, strict=True) if on}


@dataclass(frozen=True)
class AssignmentFact:
    assignment_id: str
    lead_id: str
    rep_id: str
    assigned_at: datetime
    due_at: datetime
    first_touch_at: datetime | None = None
    breached: bool = False
    cadence_breaches: int = 0


@dataclass(frozen=True)
class DealFact:
    opportunity_id: str
    lead_id: str
    rep_id: str | None
    won: bool
    amount_cents: int
    closed_at: datetime


@dataclass(frozen=True)
class SpendFact:
    source: str
    period: str
    amount_cents: int


@dataclass(frozen=True)
class AuditFact:
    audit_id: str
    lead_id: str
    rep_id: str | None
    source: str | None
    source_class: str | None
    contacted: bool
    satisfaction: int | None
    outcome: str
    logged_contact: bool


# --- the report -----------------------------------------------------------------------------


@dataclass
class Report:
    metric: str
    columns: list[str]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None = None
    by: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"metric": self.metric}
        if self.by is not None:
            body["by"] = self.by
        body.update(self.extra)
        body["columns"] = self.columns
        body["rows"] = self.rows
        body["total"] = self.total
        body["warnings"] = self.warnings
        return body

    def as_csv(self) -> str:
        """The rows, then the total row (its first column says (total))."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.columns, extrasaction="ignore")
        writer.writeheader()
        rows = [*self.rows]
        if self.total is not None:
            rows.append({**self.total, self.columns[0]: TOTAL})
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in self.columns})
        return out.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# --- helpers --------------------------------------------------------------------------------


def money(cents: int | Decimal) -> float:
    """Minor units to major units, rounded half-up to cents."""
    value = (Decimal(cents) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return float(value)


def ratio(part: float, whole: float, places: int = 4) -> float | None:
    return round(part / whole, places) if whole else None


def money_ratio(cents: int, count: int) -> float | None:
    return money(Decimal(cents) / count) if count else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def period_of(moment: datetime, interval: Interval = "month") -> str:
    if interval == "week":
        return moment.strftime("%G-W%V")
    return moment.strftime("%Y-%m")


def grouped(items: Iterable[Any], key: Callable[[Any], str | None]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item) or UNKNOWN].append(item)
    return dict(sorted(groups.items()))


def lead_key(by: LeadDimension) -> Callable[[LeadFact], str | None]:
    return lambda lead: getattr(lead, by)


def label(by: str, key: str, rep_names: Mapping[str, str]) -> dict[str, Any]:
    if by == "rep_id":
        return {"rep_id": key, "rep_name": rep_names.get(key)}
    return {by: key}


def label_columns(by: str) -> list[str]:
    return ["rep_id", "rep_name"] if by == "rep_id" else [by]


def known_source_class(value: str | None) -> SourceClass | None:
    """The source class as events say it, or None for one audit does not know."""
    return cast(SourceClass, value) if value in SOURCE_CLASSES else None
