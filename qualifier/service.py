"""The qualification rules of the walking skeleton, in the seeds' language.

A prospect asked to be contacted; with a short timeframe (default 90 days) they are
sales-qualified and short-term, so they go to a rep. Everyone else who can be reached is
long-term and goes to nurture. Test leads are disqualified. The versioned, file-based
definitions and learned scoring replace these rules in the qualifier issue.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.events import Decision, LeadProfile, Lifecycle

DEFINITION_VERSION = "skeleton-1"
SHORT_TERM_DAYS = 90


@dataclass(frozen=True)
class Verdict:
    outcome: str  # qualified | deferred | disqualified
    decision: Decision


def decide(lead: LeadProfile) -> Verdict:
    reasons: list[str] = []
    if lead.is_test:
        return Verdict(
            "disqualified",
            Decision(
                lifecycle="name",
                stage="raw",
                term="long",
                score=0,
                definition_version=DEFINITION_VERSION,
                reasons=["test lead"],
            ),
        )
    score = 20
    fits = bool(lead.company or lead.company_domain)
    if fits:
        score += 20
        reasons.append("has a company: fits the profile")
    selecting = lead.timeframe_days is not None and lead.timeframe_days <= 365
    if selecting:
        score += 20
        reasons.append(f"buying within {lead.timeframe_days} days: selecting a supplier")
    if lead.asked_to_be_contacted:
        score += 30
        reasons.append("asked to be contacted")
    short = lead.timeframe_days is not None and lead.timeframe_days <= SHORT_TERM_DAYS
    if short:
        score += 10
    lifecycle: Lifecycle = (
        "prospect"
        if fits and selecting and lead.asked_to_be_contacted
        else "suspect"
        if fits and selecting
        else "target"
        if fits
        else "name"
    )
    sales_ready = lifecycle == "prospect" and short
    decision = Decision(
        lifecycle=lifecycle,
        stage="sales_qualified" if sales_ready else "basic_qualified" if fits else "raw",
        term="short" if short else "long",
        score=min(score, 100),
        definition_version=DEFINITION_VERSION,
        reasons=reasons or ["contact details only"],
    )
    return Verdict("qualified" if sales_ready else "deferred", decision)
