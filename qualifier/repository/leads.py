"""The qualifier's SQL for leads: their latest profiles and engagement, their decisions,
and their erasure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import bindparam, case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from contracts.events import CriterionResult, Decision, IntentDecay, LeadProfile
from qualifier.models import decisions, leads, outcomes
from qualifier.records import LeadState, Previous, StoredDecision, StoredLead
from qualifier.rules import NurtureEngagement, Outcome, Verdict
from services import erasure
from services.db import ReadConn, Tx
from services.sqltypes import EncodedJson
from services.statements import upsert

_CRITERIA = TypeAdapter(list[CriterionResult])

# --- lead profiles ------------------------------------------------------------------------


PROFILE_COLUMNS = ("lead_id", "profile", "updated_at")
ENGAGEMENT_COLUMNS = (*PROFILE_COLUMNS, "engagement_score", "engagements")


@cache
def _save_profiles(dialect: str) -> Insert:
    """Upsert of a lead's profile that keeps the stored engagement and moves the last
    intent signal only forwards (a replayed capture does not take it back)."""
    insert = postgresql.insert(leads) if dialect == "postgresql" else sqlite.insert(leads)
    signal, stored = insert.excluded.intent_at, leads.c.intent_at
    latest = case(
        (signal.is_(None), stored),
        (stored.is_(None) | (signal > stored), signal),
        else_=stored,
    )
    return insert.on_conflict_do_update(
        index_elements=["lead_id"],
        set_={
            "profile": insert.excluded.profile,
            "updated_at": insert.excluded.updated_at,
            "intent_at": latest,
        },
    )


async def save_profiles(
    tx: Tx, profiles: Mapping[str, LeadProfile], intent_at: Mapping[str, datetime]
) -> None:
    """Keep each lead's latest profile (lead id -> profile), the stored engagement kept,
    and the time of its last intent signal (lead id -> time, for the leads whose events
    carried one): one statement."""
    if not profiles:
        return
    now = tx.now()
    rows = [
        {
            "lead_id": lead_id,
            "profile": profile.model_dump(mode="json"),
            "updated_at": now,
            "intent_at": intent_at.get(lead_id),
        }
        for lead_id, profile in profiles.items()
    ]
    await tx.write(_save_profiles(tx.conn.dialect.name), rows)


async def save_engagements(
    tx: Tx, engaged: Mapping[str, tuple[LeadProfile, NurtureEngagement]]
) -> None:
    """Keep each lead's latest profile and nurture engagement: one statement."""
    if not engaged:
        return
    now = tx.now()
    rows = [
        {
            "lead_id": lead_id,
            "profile": profile.model_dump(mode="json"),
            "updated_at": now,
            "engagement_score": engagement.score,
            "engagements": [dict(e) for e in engagement.engagements],
        }
        for lead_id, (profile, engagement) in engaged.items()
    ]
    statement = upsert(leads, tx.conn.dialect.name, ENGAGEMENT_COLUMNS, ("lead_id",))
    await tx.conn.execute(statement, rows)


_LEAD_STATES = (
    select(
        leads.c.lead_id,
        leads.c.engagement_score,
        leads.c.engagements,
        leads.c.intent_at,
        decisions.c.outcome,
        decisions.c.definition_version,
    )
    .select_from(leads.outerjoin(decisions, decisions.c.lead_id == leads.c.lead_id))
    .where(leads.c.lead_id.in_(bindparam("ids", expanding=True)))
)


async def lead_states(tx: Tx, lead_ids: Sequence[str]) -> dict[str, LeadState]:
    """The stored state of each of `lead_ids` that has a stored profile, in one read."""
    if not lead_ids:
        return {}
    rows = await tx.rows(_LEAD_STATES, {"ids": list(lead_ids)})
    return {
        r["lead_id"]: LeadState(
            Previous(cast(Outcome, r["outcome"]), r["definition_version"])
            if r["outcome"] is not None
            else None,
            _engagement(r),
            r["intent_at"],
        )
        for r in rows
    }


def _stored_lead(row: Mapping[Any, Any]) -> StoredLead:
    return StoredLead(
        row["lead_id"],
        LeadProfile.model_validate(row["profile"]),
        _engagement(row),
        row["intent_at"],
    )


def _engagement(row: Mapping[Any, Any]) -> NurtureEngagement | None:
    """The lead's engagement as nurture reported it (a row read by column name)."""
    if row["engagement_score"] is None and not row["engagements"]:
        return None
    return NurtureEngagement(row["engagement_score"] or 0.0, tuple(row["engagements"] or ()))


# --- decisions ----------------------------------------------------------------------------


DECISION_COLUMNS = (
    "lead_id",
    "outcome",
    "lifecycle",
    "stage",
    "term",
    "score",
    "definition_version",
    "reasons",
    "decided_at",
    "criteria",
    "disqualifiers",
    "reason",
    "model_version",
    "rule_score",
    "win_probability",
    "trigger",
    "intent_decay",
)


def save_decisions(tx: Tx, decided: Mapping[str, tuple[Verdict, str]]) -> None:
    """Keep each lead's latest decision (lead id -> (verdict, trigger)): one statement, at
    the transaction's next flush (`Tx.defer`, with the events the decisions said)."""
    now = tx.now()
    statement = upsert(decisions, tx.conn.dialect.name, DECISION_COLUMNS, ("lead_id",))
    for lead_id, (verdict, trigger) in decided.items():
        tx.defer(statement, _decision_row(lead_id, verdict, trigger, now))


def _decision_row(lead_id: str, verdict: Verdict, trigger: str, now: datetime) -> dict[str, Any]:
    d = verdict.decision
    return {
        "lead_id": lead_id,
        "outcome": verdict.outcome,
        "lifecycle": d.lifecycle,
        "stage": d.stage,
        "term": d.term,
        "score": d.score,
        "definition_version": d.definition_version,
        "reasons": d.reasons,
        "decided_at": now,
        "criteria": EncodedJson(_CRITERIA.dump_json(d.criteria).decode()),
        "disqualifiers": verdict.disqualifiers,
        "reason": verdict.reason,
        "model_version": d.model_version,
        "rule_score": d.rule_score,
        "win_probability": d.win_probability,
        "trigger": trigger,
        "intent_decay": d.intent_decay.model_dump(mode="json") if d.intent_decay else None,
    }


async def get_decision(conn: ReadConn, lead_id: str) -> StoredDecision | None:
    row = (await conn.execute(select(decisions).where(decisions.c.lead_id == lead_id))).first()
    if row is None:
        return None
    decision = Decision(
        lifecycle=row.lifecycle,
        stage=row.stage,
        term=row.term,
        score=row.score,
        rule_score=row.rule_score,
        win_probability=row.win_probability,
        definition_version=row.definition_version,
        model_version=row.model_version,
        reasons=row.reasons or [],
        criteria=[CriterionResult.model_validate(c) for c in row.criteria or []],
        intent_decay=IntentDecay.model_validate(row.intent_decay) if row.intent_decay else None,
    )
    return StoredDecision(
        lead_id=row.lead_id,
        verdict=Verdict(cast(Outcome, row.outcome), decision, row.disqualifiers or []),
        reason=row.reason or "; ".join(row.reasons or []),
        trigger=row.trigger,
        decided_at=row.decided_at,
    )


async def open_leads(
    tx: Tx, *, after: str, limit: int, outcomes_: Sequence[str]
) -> list[tuple[StoredLead, Previous]]:
    """Stored leads whose last decision had one of `outcomes_`, by lead id after `after`,
    locked until commit on PostgreSQL (a consumer deciding one of them waits)."""
    query = (
        select(
            leads,
            decisions.c.outcome,
            decisions.c.definition_version,
        )
        .join(decisions, decisions.c.lead_id == leads.c.lead_id)
        .where(decisions.c.outcome.in_(list(outcomes_)), leads.c.lead_id > after)
        .order_by(leads.c.lead_id)
        .limit(limit)
    )
    if not tx.unit.database.is_sqlite:
        query = query.with_for_update(of=[leads, decisions])
    rows = (await tx.conn.execute(query)).all()
    return [
        (_stored_lead(r._mapping), Previous(cast(Outcome, r.outcome), r.definition_version))
        for r in rows
    ]


# --- erasure ------------------------------------------------------------------------------


async def profile_json(tx: Tx, lead_id: str) -> dict[str, Any] | None:
    row = (await tx.conn.execute(select(leads.c.profile).where(leads.c.lead_id == lead_id))).first()
    return dict(row.profile) if row is not None else None


async def erase_lead(tx: Tx, lead_id: str, values: set[str]) -> int:
    """Take the person out of the lead's stored profile (its engagements dropped), its
    decision's reasons and criteria, and its closed deals' features; scores, stages and the
    learned counts stay."""
    changed = await erasure.redact_rows(
        tx,
        leads,
        leads.c.lead_id == lead_id,
        values,
        json_columns=("profile",),
        blank_columns=("engagements",),
    )
    changed += await erasure.redact_rows(
        tx,
        decisions,
        decisions.c.lead_id == lead_id,
        values,
        json_columns=("reasons", "criteria", "disqualifiers"),
        text_columns=("reason",),
    )
    changed += await erasure.redact_rows(
        tx, outcomes, outcomes.c.lead_id == lead_id, values, json_columns=("features",)
    )
    return changed
