"""The numbers that settle arguments, computed from audit's read models.

Pure functions over typed facts (no SQL, no clock), so each one is checked against a
hand-computed fixture. Each returns a `Report`: rows grouped by one dimension, a total row,
warnings, and the same content as JSON or CSV.

Units: a lead is counted in the period it was captured (its cohort). Questions about sources
are asked of leads; questions about reps are asked of assignments (what a rep did with what
they were given), so a lead reassigned once counts once for its source and once for each rep.
Money is in minor units inside and in major units (2 decimals) outside. Durations are
seconds (time to first touch) or days (lead to close). Percentiles use the nearest-rank
method: the p-th percentile of n sorted values is the ceil(p/100 * n)-th value.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

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


def _grouped(items: Iterable[Any], key: Callable[[Any], str | None]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item) or UNKNOWN].append(item)
    return dict(sorted(groups.items()))


def _lead_key(by: LeadDimension) -> Callable[[LeadFact], str | None]:
    return lambda lead: getattr(lead, by)


def _label(by: str, key: str, rep_names: Mapping[str, str]) -> dict[str, Any]:
    if by == "rep_id":
        return {"rep_id": key, "rep_name": rep_names.get(key)}
    return {by: key}


def _label_columns(by: str) -> list[str]:
    return ["rep_id", "rep_name"] if by == "rep_id" else [by]


# --- funnel ---------------------------------------------------------------------------------


def funnel(leads: Sequence[LeadFact], by: Literal["source", "source_class"]) -> Report:
    """Leads that reached each stage: raw, basic-qualified, sales-qualified, accepted,
    opportunity, won; and beside the stages, the leads the qualifier disqualified (they
    count as raw only, so a manager sees where the rest of the raw leads went)."""

    def counts(group: Sequence[LeadFact]) -> dict[str, int]:
        tally: Counter[str] = Counter()
        for lead in group:
            tally.update(lead.reached())
        counted = {stage: tally[stage] for stage in STAGES}
        counted["disqualified"] = sum(1 for lead in group if lead.disqualified_at is not None)
        return counted

    rows: list[dict[str, Any]] = [
        {by: key, **counts(group)} for key, group in _grouped(leads, _lead_key(by)).items()
    ]
    if by == "source":
        classes = {lead.source: lead.source_class for lead in leads}
        rows = [{**row, "source_class": classes.get(row["source"])} for row in rows]
        columns = ["source", "source_class", *STAGES, "disqualified"]
    else:
        columns = ["source_class", *STAGES, "disqualified"]
    return Report("funnel", columns, rows, {by: None, **counts(leads)}, by=by)


# --- cost per lead and per closed sale ------------------------------------------------------


def costs(
    leads: Sequence[LeadFact],
    deals: Sequence[DealFact],
    spend: Sequence[SpendFact],
    *,
    by: Literal["source", "source_class"] = "source",
    source_classes: Mapping[str, str] | None = None,
    currency: str = "USD",
) -> Report:
    """Front-end cost per lead (spend / leads) and back-end cost per closed sale (spend / won
    leads) per source, for the leads captured and the spend entered in the same periods. A
    source with no spend entered has no costs (None), which is not the same as zero."""
    known = {**(source_classes or {}), **{lead.source: lead.source_class for lead in leads}}
    won_amount: Counter[str] = Counter()
    for deal in deals:
        if deal.won:
            won_amount[deal.lead_id] += deal.amount_cents

    def key_of_source(source: str) -> str:
        return source if by == "source" else known.get(source, UNKNOWN)

    spend_by: Counter[str] = Counter()
    for item in spend:
        spend_by[key_of_source(item.source)] += item.amount_cents
    groups = _grouped(leads, _lead_key(by))
    keys = sorted(set(groups) | set(spend_by))

    def row(group: Sequence[LeadFact], spent: int | None) -> dict[str, Any]:
        won = [lead for lead in group if lead.won_at is not None]
        return {
            "spend": money(spent) if spent is not None else None,
            "leads": len(group),
            "won": len(won),
            "won_amount": money(sum(won_amount[lead.lead_id] for lead in won)),
            "cost_per_lead": money_ratio(spent, len(group)) if spent is not None else None,
            "cost_per_closed_sale": money_ratio(spent, len(won)) if spent is not None else None,
        }

    rows: list[dict[str, Any]] = []
    for key in keys:
        label: dict[str, Any] = (
            {"source": key, "source_class": known.get(key)} if by == "source" else {by: key}
        )
        rows.append({**label, **row(groups.get(key, []), spend_by.get(key))})
    names = ["spend", "leads", "won", "won_amount", "cost_per_lead", "cost_per_closed_sale"]
    columns = ["source", "source_class", *names] if by == "source" else [by, *names]
    total = {by: None, **row(leads, sum(spend_by.values()) if spend_by else None)}
    return Report("costs", columns, rows, total, by=by, extra={"currency": currency})


# --- follow-up, time to first touch, SLA ---------------------------------------------------


def _touched_in_time(first_touch_at: datetime | None, due_at: datetime | None) -> bool:
    return first_touch_at is not None and due_at is not None and first_touch_at <= due_at


def _sla_decided(
    first_touch_at: datetime | None, due_at: datetime | None, now: datetime, breached: bool
) -> bool:
    """Whether the first-touch SLA of an assignment is decided: touched, or its deadline has
    passed (or the router said it was breached). One not touched and not due yet is pending:
    it can still be met, so no SLA share counts it either way."""
    return first_touch_at is not None or breached or (due_at is not None and due_at <= now)


def follow_up(
    leads: Sequence[LeadFact],
    assignments: Sequence[AssignmentFact],
    by: LeadDimension,
    now: datetime,
    rep_names: Mapping[str, str] | None = None,
) -> Report:
    """Share of assigned leads touched at all (`follow_up_rate`, of all assigned), and
    touched within the first-touch SLA (`within_sla_rate`, of those whose SLA is decided:
    touched or past the deadline, as `sla_compliance` counts them; `sla_pending` are not
    due yet). By source: leads (first assignment's deadline). By rep: that rep's
    assignments, so a rep's `within_sla_rate` is their `sla` compliance."""
    names = rep_names or {}

    def lead_row(group: Sequence[LeadFact]) -> dict[str, Any]:
        assigned = [lead for lead in group if lead.assigned_at is not None]
        touched = [lead for lead in assigned if lead.first_touch_at is not None]
        decided = [
            lead
            for lead in assigned
            if _sla_decided(lead.first_touch_at, lead.first_touch_due_at, now, False)
        ]
        on_time = [
            lead
            for lead in assigned
            if _touched_in_time(lead.first_touch_at, lead.first_touch_due_at)
        ]
        return _follow_row(len(assigned), len(touched), len(decided), len(on_time))

    def assignment_row(group: Sequence[AssignmentFact]) -> dict[str, Any]:
        touched = [a for a in group if a.first_touch_at is not None]
        decided = [a for a in group if _sla_decided(a.first_touch_at, a.due_at, now, a.breached)]
        on_time = [a for a in group if _touched_in_time(a.first_touch_at, a.due_at)]
        return _follow_row(len(group), len(touched), len(decided), len(on_time))

    values = [
        "assigned",
        "touched",
        "sla_due",
        "sla_pending",
        "touched_within_sla",
        "follow_up_rate",
        "within_sla_rate",
    ]
    if by == "rep_id":
        rows = [
            {**_label(by, key, names), **assignment_row(group)}
            for key, group in _grouped(assignments, lambda a: a.rep_id).items()
        ]
        total = {"rep_id": None, **assignment_row(assignments)}
        unit = "assignment"
    else:
        rows = [
            {by: key, **lead_row(group)}
            for key, group in _grouped(leads, _lead_key(by)).items()
            if any(lead.assigned_at is not None for lead in group)
        ]
        total = {by: None, **lead_row(leads)}
        unit = "lead"
    return Report(
        "follow_up", [*_label_columns(by), *values], rows, total, by=by, extra={"unit": unit}
    )


def _follow_row(assigned: int, touched: int, decided: int, on_time: int) -> dict[str, Any]:
    return {
        "assigned": assigned,
        "touched": touched,
        "sla_due": decided,
        "sla_pending": assigned - decided,
        "touched_within_sla": on_time,
        "follow_up_rate": ratio(touched, assigned),
        "within_sla_rate": ratio(on_time, decided),
    }


def time_to_first_touch(
    leads: Sequence[LeadFact],
    assignments: Sequence[AssignmentFact],
    by: LeadDimension,
    rep_names: Mapping[str, str] | None = None,
) -> Report:
    """Percentiles of the time from assignment to first touch, in seconds. By source: from
    the lead's first assignment to its first touch by anyone. By rep: from each assignment to
    that rep's first touch."""
    names = rep_names or {}

    def stats(pairs: Sequence[tuple[datetime | None, datetime | None]]) -> dict[str, Any]:
        seconds = [
            (touch - start).total_seconds()
            for start, touch in pairs
            if start is not None and touch is not None
        ]
        out: dict[str, Any] = {"assigned": len(pairs), "touched": len(seconds)}
        for p in PERCENTILES:
            out[f"p{p}_seconds"] = percentile(seconds, p)
        return out

    def of_leads(group: Sequence[LeadFact]) -> dict[str, Any]:
        return stats([(le.assigned_at, le.first_touch_at) for le in group if le.assigned_at])

    def of_assignments(group: Sequence[AssignmentFact]) -> dict[str, Any]:
        return stats([(a.assigned_at, a.first_touch_at) for a in group])

    values = ["assigned", "touched", *(f"p{p}_seconds" for p in PERCENTILES)]
    if by == "rep_id":
        rows = [
            {**_label(by, key, names), **of_assignments(group)}
            for key, group in _grouped(assignments, lambda a: a.rep_id).items()
        ]
        total = {"rep_id": None, **of_assignments(assignments)}
        unit = "assignment"
    else:
        rows = [
            {by: key, **of_leads(group)}
            for key, group in _grouped(leads, _lead_key(by)).items()
            if any(lead.assigned_at is not None for lead in group)
        ]
        total = {by: None, **of_leads(leads)}
        unit = "lead"
    return Report(
        "time_to_first_touch",
        [*_label_columns(by), *values],
        rows,
        total,
        by=by,
        extra={"unit": unit, "percentile_method": "nearest-rank"},
    )


def sla_compliance(
    assignments: Sequence[AssignmentFact],
    now: datetime,
    rep_names: Mapping[str, str] | None = None,
) -> Report:
    """First-touch SLA compliance per rep, over assignments whose deadline has passed or
    that were touched: met = first touch at or before the deadline. Assignments neither
    touched nor due yet are pending and not counted."""
    names = rep_names or {}

    def row(group: Sequence[AssignmentFact]) -> dict[str, Any]:
        due = [a for a in group if _sla_decided(a.first_touch_at, a.due_at, now, a.breached)]
        met = [a for a in due if _touched_in_time(a.first_touch_at, a.due_at)]
        return {
            "assignments": len(group),
            "due": len(due),
            "met": len(met),
            "missed": len(due) - len(met),
            "pending": len(group) - len(due),
            "compliance": ratio(len(met), len(due)),
            "breaches": sum(1 for a in group if a.breached),
            "cadence_breaches": sum(a.cadence_breaches for a in group),
        }

    rows = [
        {**_label("rep_id", key, names), **row(group)}
        for key, group in _grouped(assignments, lambda a: a.rep_id).items()
    ]
    values = ["assignments", "due", "met", "missed", "pending", "compliance", "breaches"]
    return Report(
        "sla_compliance",
        ["rep_id", "rep_name", *values, "cadence_breaches"],
        rows,
        {"rep_id": None, **row(assignments)},
        by="rep_id",
        extra={"sla": "first_touch"},
    )


# --- source mix -----------------------------------------------------------------------------


def source_mix(
    leads: Sequence[LeadFact], interval: Interval = "month", threshold: float = 0.6
) -> Report:
    """Leads per source class per period, with a warning when one class gives more than
    `threshold` of the leads (overall, and marked per period)."""
    classes = [*SOURCE_CLASSES, UNKNOWN]

    def row(group: Sequence[LeadFact]) -> dict[str, Any]:
        tally = Counter(
            lead.source_class if lead.source_class in SOURCE_CLASSES else UNKNOWN for lead in group
        )
        out: dict[str, Any] = {c: tally[c] for c in classes}
        out["total"] = len(group)
        top, top_count = max(tally.items(), key=lambda kv: (kv[1], kv[0]), default=(None, 0))
        share = ratio(top_count, len(group))
        dominant = share is not None and share > threshold and top != UNKNOWN
        out["dominant_class"] = top if dominant else None
        out["dominant_share"] = share if dominant else None
        return out

    rows = [
        {"period": key, **row(group)}
        for key, group in _grouped(leads, lambda le: period_of(le.cohort_at, interval)).items()
    ]
    total = {"period": None, **row(leads)}
    shares = {c: ratio(total[c], total["total"]) for c in SOURCE_CLASSES}
    warnings = [
        {
            "source_class": c,
            "share": share,
            "threshold": threshold,
            "message": (
                f"{c} gives {share:.0%} of the leads, more than {threshold:.0%}: the funnel "
                "depends on one source class; widen the mix."
            ),
        }
        for c, share in shares.items()
        if share is not None and share > threshold
    ]
    columns = ["period", *classes, "total", "dominant_class", "dominant_share"]
    return Report(
        "source_mix",
        columns,
        rows,
        total,
        by="period",
        warnings=warnings,
        extra={"interval": interval, "threshold": threshold, "shares": shares},
    )


# --- lead to close --------------------------------------------------------------------------


def lead_to_close(
    leads: Sequence[LeadFact],
    by: LeadDimension,
    rep_names: Mapping[str, str] | None = None,
) -> Report:
    """Days from capture to a won close (mean and percentiles), with the count of leads
    closed lost. By rep: the rep who had the lead."""
    names = rep_names or {}

    def row(group: Sequence[LeadFact]) -> dict[str, Any]:
        days = [
            (lead.won_at - lead.cohort_at).total_seconds() / 86400
            for lead in group
            if lead.won_at is not None
        ]
        lost = sum(1 for lead in group if lead.lost_at is not None and lead.won_at is None)
        mean = round(sum(days) / len(days), 2) if days else None
        p50, p90 = percentile(days, 50), percentile(days, 90)
        return {
            "won": len(days),
            "lost": lost,
            "mean_days": mean,
            "p50_days": round(p50, 2) if p50 is not None else None,
            "p90_days": round(p90, 2) if p90 is not None else None,
        }

    closed = [lead for lead in leads if lead.won_at is not None or lead.lost_at is not None]
    rows = [
        {**_label(by, key, names), **row(group)}
        for key, group in _grouped(closed, _lead_key(by)).items()
    ]
    values = ["won", "lost", "mean_days", "p50_days", "p90_days"]
    return Report(
        "lead_to_close",
        [*_label_columns(by), *values],
        rows,
        {by: None, **row(closed)},
        by=by,
        extra={"percentile_method": "nearest-rank"},
    )


# --- Prospect Satisfaction findings ---------------------------------------------------------


def audit_findings(
    audits: Sequence[AuditFact],
    by: LeadDimension,
    rep_names: Mapping[str, str] | None = None,
) -> Report:
    """What prospects said, per rep or source: contacted at all, satisfaction, what they
    did, and how often a rep logged a contact the prospect does not remember."""
    names = rep_names or {}

    def row(group: Sequence[AuditFact]) -> dict[str, Any]:
        scores = [a.satisfaction for a in group if a.satisfaction is not None]
        contacted = sum(1 for a in group if a.contacted)
        out: dict[str, Any] = {
            "audits": len(group),
            "contacted": contacted,
            "contact_rate": ratio(contacted, len(group)),
            "mean_satisfaction": round(sum(scores) / len(scores), 2) if scores else None,
        }
        for outcome in AUDIT_OUTCOMES:
            out[outcome] = sum(1 for a in group if a.outcome == outcome)
        out["logged_but_denied"] = sum(1 for a in group if a.logged_contact and not a.contacted)
        return out

    rows = [
        {**_label(by, key, names), **row(group)}
        for key, group in _grouped(audits, lambda a: getattr(a, by)).items()
    ]
    values = ["audits", "contacted", "contact_rate", "mean_satisfaction", *AUDIT_OUTCOMES]
    return Report(
        "audits",
        [*_label_columns(by), *values, "logged_but_denied"],
        rows,
        {by: None, **row(audits)},
        by=by,
    )
