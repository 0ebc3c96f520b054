"""The qualification rules: `decide(profile, definitions, model)`, a pure function.

It checks every criterion the definitions can name, then, in the seeds' vocabulary:

- disqualified: any disqualifier applies (score 0, never routed or nurtured);
- lifecycle: a *name* that fits the profile is a *target*; a target where a supplier
  selection may be under way is a *suspect*; a suspect who asked to be contacted is a
  *prospect*;
- stage: a target whose basics are verified is *basic-qualified*; a basic-qualified lead
  that meets the sales requirements (and the minimum score) is *sales-qualified*;
- term: *short* when the stated timeframe is within `short_term_days`, else *long*;
- outcome: sales-qualified and short-term -> qualified (to a rep); anything else that is
  not disqualified -> deferred (to nurture).

The score is the points of the matched criteria (fit plus intent, capped at 100), blended
with the learned win likelihood once the model has enough outcomes. When the definitions
give intent a half-life, the stated intent's points (every intent criterion but nurture's
engagement, which nurture ages itself) halve every half-life since the last intent signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from contracts.events import (
    CriterionResult,
    Decision,
    IntentDecay,
    LeadProfile,
    Lifecycle,
    Stage,
    Term,
)
from qualifier.definitions.model import (
    BASIC_CRITERIA,
    FIT_CRITERIA,
    Definitions,
)
from qualifier.learning import Model
from services.decay import remaining

Outcome = Literal["qualified", "deferred", "disqualified"]
ENGAGEMENT_TYPE_KEYS = ("type", "kind", "action", "event", "name")


@dataclass(frozen=True)
class NurtureEngagement:
    """What nurture reported when it recycled the lead (LeadRecycled)."""

    score: float = 0.0
    engagements: Sequence[Mapping[str, Any]] = ()

    def hand_raise(self, types: Sequence[str]) -> str | None:
        """The first engagement whose type is a hand raise, if any."""
        for item in self.engagements:
            for key in ENGAGEMENT_TYPE_KEYS:
                value = item.get(key)
                if isinstance(value, str) and value.strip().lower() in types:
                    return value.strip().lower()
        return None


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    decision: Decision
    disqualifiers: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        """Why, in one line (the lead.disqualified reason)."""
        if self.outcome == "disqualified":
            return "; ".join(
                c.detail for c in self.decision.criteria if c.kind == "disqualifier" and c.matched
            )
        return "; ".join(self.decision.reasons)


@dataclass(frozen=True)
class _Check:
    name: str
    matched: bool
    detail: str
    points: int = 0


def decide(
    lead: LeadProfile,
    definitions: Definitions,
    model: Model | None = None,
    engagement: NurtureEngagement | None = None,
    intent_age: timedelta | None = None,
) -> Verdict:
    """Apply the definitions (and the learned model, when active) to one lead, whose last
    intent signal was `intent_age` ago (None: unknown, or now; the intent is then whole)."""
    checks = {c.name: c for c in _criteria(lead, definitions, engagement or NurtureEngagement())}
    matched = {name for name, c in checks.items() if c.matched}
    criteria = [
        CriterionResult(
            name=c.name,
            matched=c.matched,
            points=c.points if c.matched else 0,
            detail=c.detail,
            kind=_kind(c.name),
            max_points=definitions.points_for(c.name),
        )
        for c in checks.values()
    ]
    disqualifiers = _disqualifiers(lead, definitions, matched)
    term = _term(lead, definitions)
    if disqualifiers:
        criteria += [
            CriterionResult(name=name, matched=True, points=0, detail=detail, kind="disqualifier")
            for name, detail in disqualifiers
        ]
        decision = Decision(
            lifecycle="name",
            stage="raw",
            term=term,
            score=0,
            rule_score=0,
            definition_version=definitions.version,
            model_version=None,
            reasons=[f"disqualified: {detail}" for _, detail in disqualifiers],
            criteria=criteria,
        )
        return Verdict("disqualified", decision, [name for name, _ in disqualifiers])

    points = sum(c.points for c in criteria)
    intent = sum(c.points for c in criteria if c.kind == "intent" and c.name != "engagement")
    decayed = _decayed(intent, intent_age, definitions)
    rule_score = _capped(points - intent + decayed)
    score, win_probability = model.blend(rule_score, lead) if model else (rule_score, None)
    model_version = model.version if model and win_probability is not None else None
    intent_decay = None
    if definitions.intent_half_life_days is not None:
        raw_score = model.blend(_capped(points), lead)[0] if model else _capped(points)
        intent_decay = IntentDecay(
            half_life_days=definitions.intent_half_life_days,
            age_days=round(_days(intent_age), 2),
            intent_points=intent,
            decayed_intent_points=decayed,
            raw_score=raw_score,
        )

    fits = definitions.target.holds(matched)
    selecting = fits and definitions.suspect.holds(matched)
    asked = selecting and definitions.prospect.holds(matched)
    lifecycle: Lifecycle = (
        "prospect" if asked else "suspect" if selecting else "target" if fits else "name"
    )
    basic = fits and all(r in matched for r in definitions.basic_requires)
    sales = (
        basic
        and all(r in matched for r in definitions.sales_requires)
        and score >= definitions.sales_min_score
    )
    stage: Stage = "sales_qualified" if sales else "basic_qualified" if basic else "raw"
    outcome: Outcome = "qualified" if sales and term == "short" else "deferred"
    reasons = [c.detail for c in checks.values() if c.matched and c.points > 0]
    if intent_decay is not None and decayed != intent:
        reasons.append(_decay_reason(intent_decay))
    reasons.append(_lifecycle_reason(lifecycle, definitions))
    reasons.append(_stage_reason(stage, matched, definitions, score))
    reasons.append(_term_reason(lead, term, definitions))
    decision = Decision(
        lifecycle=lifecycle,
        stage=stage,
        term=term,
        score=score,
        rule_score=rule_score,
        win_probability=win_probability,
        definition_version=definitions.version,
        model_version=model_version,
        reasons=reasons,
        criteria=criteria,
        intent_decay=intent_decay,
    )
    return Verdict(outcome, decision)


# --- decay --------------------------------------------------------------------------------


def _capped(points: int) -> int:
    return max(0, min(100, points))


def _days(age: timedelta | None) -> float:
    return max(age.total_seconds(), 0.0) / 86400.0 if age is not None else 0.0


def _decayed(intent: int, age: timedelta | None, d: Definitions) -> int:
    """The stated intent's points left `age` after the last intent signal."""
    if d.intent_half_life_days is None:
        return intent
    return round(intent * remaining(_days(age), d.intent_half_life_days))


def _day_count(days: float) -> str:
    shown = f"{round(days, 1):g}"
    return f"{shown} day" if shown == "1" else f"{shown} days"


def _decay_reason(decay: IntentDecay) -> str:
    return (
        f"intent {decay.intent_points} -> {decay.decayed_intent_points}"
        f" after {_day_count(decay.age_days)}, half-life {_day_count(decay.half_life_days)}"
    )


# --- criteria -----------------------------------------------------------------------------


def _kind(name: str) -> Literal["basic", "fit", "intent"]:
    if name in BASIC_CRITERIA:
        return "basic"
    return "fit" if name in FIT_CRITERIA else "intent"


def _domain_of(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rpartition("@")[2].strip().lower().rstrip(".") or None


def _criteria(lead: LeadProfile, d: Definitions, engagement: NurtureEngagement) -> list[_Check]:
    icp = d.icp
    email_domain = _domain_of(lead.email)
    free_mail = "free_mail" in lead.flags
    name = lead.full_name or " ".join(p for p in (lead.first_name, lead.last_name) if p)
    industry_hit = icp.industries.find(lead.industry)
    title_hit = icp.titles.find(lead.job_title)
    product_hit = next(
        (hit for hit in (icp.product_interests.find(p) for p in lead.product_interest) if hit),
        None,
    )
    band = next(
        (r for r in icp.employees if lead.employees is not None and r.contains(lead.employees)),
        None,
    )
    tf = lead.timeframe_days
    hand_raise = engagement.hand_raise(d.engagement.hand_raise)
    engaged = engagement.score > 0 and d.engagement.points > 0
    engagement_points = (
        round(d.engagement.points * min(1.0, engagement.score / d.engagement.full_at))
        if engaged
        else 0
    )
    reachable = bool(lead.email or lead.phone or lead.phone_raw)

    def check(name: str, matched: bool, detail: str, points: int | None = None) -> _Check:
        return _Check(name, matched, detail, d.points_for(name) if points is None else points)

    return [
        check(
            "reachable",
            reachable,
            "can be reached by email or phone" if reachable else "no email and no phone",
        ),
        check(
            "named", bool(name.strip()), "has a contact name" if name.strip() else "no contact name"
        ),
        check(
            "company",
            bool(lead.company),
            f"has a company ({lead.company})" if lead.company else "no company given",
        ),
        check(
            "business_email",
            bool(email_domain) and not free_mail,
            f"business email domain {email_domain}"
            if email_domain and not free_mail
            else "free-mail address"
            if free_mail
            else "no email address",
        ),
        check(
            "icp_industry",
            industry_hit is not None,
            f"industry {lead.industry} is in the profile"
            if industry_hit
            else f"industry {lead.industry} is not in the profile"
            if lead.industry
            else "no industry given",
        ),
        check(
            "icp_employees",
            band is not None,
            f"{lead.employees} employees is in the profile ({band})"
            if band
            else f"{lead.employees} employees is outside the profile"
            if lead.employees is not None
            else "no company size given",
        ),
        check(
            "icp_country",
            bool(lead.country) and (lead.country or "").upper() in icp.countries,
            f"country {lead.country} is in the profile"
            if lead.country and lead.country.upper() in icp.countries
            else f"country {lead.country} is not in the profile"
            if lead.country
            else "no country given",
        ),
        check(
            "icp_title",
            title_hit is not None,
            f"job title {lead.job_title!r} shows seniority ({title_hit})"
            if title_hit
            else "job title shows no profile seniority"
            if lead.job_title
            else "no job title given",
        ),
        check(
            "icp_product",
            product_hit is not None,
            f"interested in {product_hit}, a product in the profile"
            if product_hit
            else "no product interest in the profile",
        ),
        check(
            "product_interest",
            bool(lead.product_interest),
            "stated a product interest: " + ", ".join(lead.product_interest)
            if lead.product_interest
            else "no product interest stated",
        ),
        check(
            "need",
            bool(lead.need),
            "stated a need" if lead.need else "no need stated",
        ),
        check(
            "budget",
            lead.has_budget is True,
            "has a budget or funding"
            if lead.has_budget
            else "no budget"
            if lead.has_budget is False
            else "budget unknown",
        ),
        check(
            "timeframe",
            tf is not None and tf <= d.selection_window_days,
            f"buying within {tf} days: selecting a supplier"
            if tf is not None and tf <= d.selection_window_days
            else f"buying in {tf} days, beyond {d.selection_window_days}"
            if tf is not None
            else "no timeframe stated",
        ),
        check(
            "short_term",
            tf is not None and tf <= d.short_term_days,
            f"buying within {d.short_term_days} days"
            if tf is not None and tf <= d.short_term_days
            else f"not buying within {d.short_term_days} days",
        ),
        check(
            "asked_to_be_contacted",
            lead.asked_to_be_contacted or hand_raise is not None,
            "asked to be contacted"
            if lead.asked_to_be_contacted
            else f"raised a hand in nurture ({hand_raise})"
            if hand_raise
            else "did not ask to be contacted",
        ),
        check(
            "engagement",
            engaged,
            f"engagement score {engagement.score:g} in nurture" if engaged else "no engagement",
            engagement_points,
        ),
    ]


def _disqualifiers(lead: LeadProfile, d: Definitions, matched: set[str]) -> list[tuple[str, str]]:
    rules = d.disqualifiers
    out: list[tuple[str, str]] = []
    if rules.test_lead and lead.is_test:
        out.append(("test_lead", "test lead"))
    if rules.no_contact and "reachable" not in matched:
        out.append(("no_contact", "no way to contact: no email and no phone"))
    domains = {x for x in (_domain_of(lead.email), (lead.company_domain or "").lower()) if x}
    competitor = next(
        (
            c
            for c in rules.competitor_domains
            for domain in domains
            if domain == c or domain.endswith("." + c)
        ),
        None,
    )
    if competitor:
        out.append(("competitor", f"competitor domain {competitor}"))
    if rules.free_mail and "free_mail" in lead.flags:
        out.append(
            ("free_mail", f"free-mail address ({_domain_of(lead.email) or 'free mail'}) for B2B")
        )
    if rules.student_or_job_seeker:
        texts = [("job title", lead.job_title)] + [("answer", v) for v in lead.answers.values()]
        for where, text in texts:
            hit = rules.student_or_job_seeker.find(text)
            if hit:
                out.append(
                    ("student_or_job_seeker", f"student or job seeker: {where} says {hit!r}")
                )
                break
    if lead.source_class in rules.badge_scan_source_classes and not any(
        s in matched for s in rules.badge_scan_interest
    ):
        out.append(
            (
                "badge_scan_without_interest",
                f"{lead.source_class} badge scan with no stated interest",
            )
        )
    return out


def _term(lead: LeadProfile, d: Definitions) -> Term:
    if lead.timeframe_days is None:
        return d.without_timeframe
    return "short" if lead.timeframe_days <= d.short_term_days else "long"


def _lifecycle_reason(lifecycle: Lifecycle, d: Definitions) -> str:
    return {
        "prospect": "prospect: fits, is selecting a supplier and asked to be contacted",
        "suspect": "suspect: fits the profile and may be selecting a supplier",
        "target": "target: fits the profile",
        "name": f"name: contact details only (a target needs {d.target.describe()})",
    }[lifecycle]


def _stage_reason(stage: Stage, matched: set[str], d: Definitions, score: int) -> str:
    if stage == "sales_qualified":
        return "sales-qualified: " + ", ".join(d.sales_requires or ("no requirements",))
    missing = [r for r in d.sales_requires if r not in matched]
    if d.sales_min_score and score < d.sales_min_score:
        missing.append(f"score {score} below {d.sales_min_score}")
    if stage == "basic_qualified":
        return "basic-qualified; not sales-qualified: missing " + ", ".join(missing)
    return (
        "raw: basics not verified (needs to fit the profile and "
        + ", ".join(d.basic_requires or ("nothing else",))
        + ")"
    )


def _term_reason(lead: LeadProfile, term: Term, d: Definitions) -> str:
    if lead.timeframe_days is None:
        return f"{term}-term: no timeframe stated"
    if term == "short":
        return f"short-term: buying within {d.short_term_days} days"
    return f"long-term: buying in {lead.timeframe_days} days, beyond {d.short_term_days}"
