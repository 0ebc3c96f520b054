"""Marketing's questions, asked of leads: the funnel, cost per lead and per closed sale, and
the source mix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from audit.reports.facts import (
    SOURCE_CLASSES,
    STAGES,
    UNKNOWN,
    DealFact,
    Interval,
    LeadFact,
    Report,
    SpendFact,
    grouped,
    lead_key,
    money,
    money_ratio,
    period_of,
    ratio,
)

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
        {by: key, **counts(group)} for key, group in grouped(leads, lead_key(by)).items()
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
    groups = grouped(leads, lead_key(by))
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
        for key, group in grouped(leads, lambda le: period_of(le.cohort_at, interval)).items()
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
