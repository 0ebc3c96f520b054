"""What sales did with the leads (asked of assignments where the question is about reps):
follow-up, time to first touch, first-touch SLA compliance, lead to close, and what
prospects said in Prospect Satisfaction audits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from audit.reports.facts import (
    AUDIT_OUTCOMES,
    PERCENTILES,
    AssignmentFact,
    AuditFact,
    LeadDimension,
    LeadFact,
    Report,
    grouped,
    label,
    label_columns,
    lead_key,
    percentile,
    ratio,
)

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
            {**label(by, key, names), **assignment_row(group)}
            for key, group in grouped(assignments, lambda a: a.rep_id).items()
        ]
        total = {"rep_id": None, **assignment_row(assignments)}
        unit = "assignment"
    else:
        rows = [
            {by: key, **lead_row(group)}
            for key, group in grouped(leads, lead_key(by)).items()
            if any(lead.assigned_at is not None for lead in group)
        ]
        total = {by: None, **lead_row(leads)}
        unit = "lead"
    return Report(
        "follow_up", [*label_columns(by), *values], rows, total, by=by, extra={"unit": unit}
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
            {**label(by, key, names), **of_assignments(group)}
            for key, group in grouped(assignments, lambda a: a.rep_id).items()
        ]
        total = {"rep_id": None, **of_assignments(assignments)}
        unit = "assignment"
    else:
        rows = [
            {by: key, **of_leads(group)}
            for key, group in grouped(leads, lead_key(by)).items()
            if any(lead.assigned_at is not None for lead in group)
        ]
        total = {by: None, **of_leads(leads)}
        unit = "lead"
    return Report(
        "time_to_first_touch",
        [*label_columns(by), *values],
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
        {**label("rep_id", key, names), **row(group)}
        for key, group in grouped(assignments, lambda a: a.rep_id).items()
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
        {**label(by, key, names), **row(group)}
        for key, group in grouped(closed, lead_key(by)).items()
    ]
    values = ["won", "lost", "mean_days", "p50_days", "p90_days"]
    return Report(
        "lead_to_close",
        [*label_columns(by), *values],
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
        {**label(by, key, names), **row(group)}
        for key, group in grouped(audits, lambda a: getattr(a, by)).items()
    ]
    values = ["audits", "contacted", "contact_rate", "mean_satisfaction", *AUDIT_OUTCOMES]
    return Report(
        "audits",
        [*label_columns(by), *values, "logged_but_denied"],
        rows,
        {by: None, **row(audits)},
        by=by,
    )
