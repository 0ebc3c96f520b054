"""The qualifier's backtest: how the leads of a past window would have been decided under a
candidate definitions version, side by side with the active one (docs/qualification.md,
"Backtests").

The leads are the `lead.captured`, `lead.merged` and `lead.recycled` events audit archived
in the window, replayed in time order. Both sides decide with `qualifier.rules.decide`, the
live decision, under the same learned model (the current one), and follow the live rules of
a run: a merged profile of a lead already qualified is left alone, a recycled lead brings
its engagement. Each side keeps its own decisions in memory; nothing is stored or said.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.events import CriterionResult, LeadCaptured, LeadMerged, LeadRecycled, parse_data
from qualifier.definitions import parse
from qualifier.definitions.model import Definitions
from qualifier.learning import Model
from qualifier.rules import NurtureEngagement, Verdict, decide
from qualifier.service import Qualifier
from services.backtests import (
    ArchivePage,
    BacktestCount,
    BacktestJob,
    ReportProgress,
    Window,
    side_by_side,
)
from services.controlchars import refuse_control_characters
from services.db import UnitOfWork

LEAD_EVENTS = [LeadCaptured.TYPE, LeadMerged.TYPE, LeadRecycled.TYPE]
MAX_LISTED = 1000
"""Leads listed in `changes`, at most (the counts cover every lead)."""


class QualifierBacktestIn(Window):
    """A candidate definitions version to replay the window's leads under."""

    model_config = ConfigDict(extra="forbid")
    _no_control_characters = field_validator("yaml")(refuse_control_characters)

    yaml: str = Field(
        min_length=1,
        description="The candidate definitions as YAML text, validated exactly as "
        "`PUT /definitions` validates them (its `version` need not be new: nothing is stored)",
    )


class BacktestVerdict(BaseModel):
    """A lead's decision on one side, with its explanation."""

    outcome: str
    lifecycle: str
    stage: str
    term: str
    score: int
    definition_version: str
    reasons: list[str]
    disqualifiers: list[str]
    criteria: list[CriterionResult]


class StageChange(BaseModel):
    lead_id: str
    decided_at: datetime = Field(description="The time of the lead's last event in the window")
    changed: list[str] = Field(description="What differs: outcome, stage, lifecycle, term")
    current: BacktestVerdict
    candidate: BacktestVerdict


class QualifierBacktestResult(BaseModel):
    definition_versions: dict[str, str] = Field(description="current and candidate")
    model_version: str | None
    leads: int = Field(description="Leads decided in the window (their last decision counts)")
    changed: int = Field(description="Leads whose outcome, stage, lifecycle or term differ")
    outcomes: list[BacktestCount]
    stages: list[BacktestCount]
    lifecycles: list[BacktestCount]
    terms: list[BacktestCount]
    changes: list[StageChange] = Field(description=f"The first {MAX_LISTED} changed leads")


class QualifierBacktestOut(BacktestJob[QualifierBacktestResult]):
    """A qualifier backtest job."""


@dataclass
class Side:
    definitions: Definitions
    verdicts: dict[str, Verdict] = field(default_factory=dict)


def _verdict(verdict: Verdict) -> BacktestVerdict:
    d = verdict.decision
    return BacktestVerdict(
        outcome=verdict.outcome,
        lifecycle=d.lifecycle,
        stage=d.stage,
        term=d.term,
        score=d.score,
        definition_version=d.definition_version,
        reasons=list(d.reasons),
        disqualifiers=list(verdict.disqualifiers),
        criteria=list(d.criteria),
    )


def _differences(a: Verdict, b: Verdict) -> list[str]:
    pairs = (
        ("outcome", a.outcome, b.outcome),
        ("stage", a.decision.stage, b.decision.stage),
        ("lifecycle", a.decision.lifecycle, b.decision.lifecycle),
        ("term", a.decision.term, b.decision.term),
    )
    return [name for name, x, y in pairs if x != y]


class QualifierBacktest:
    def __init__(self, qualifier: Qualifier, unit: UnitOfWork) -> None:
        self.qualifier = qualifier
        self.unit = unit

    async def sides(self, body: QualifierBacktestIn) -> tuple[Definitions, Definitions, Model]:
        """The active definitions, the candidate's (raises DefinitionsError, as the PUT
        does) and the learned model both sides decide with."""
        candidate = parse(body.yaml, source="definitions.yaml")
        async with self.unit.read() as conn:
            active = await self.qualifier.catalog.active(conn)
            model = await self.qualifier.model(conn, for_deciding=True)
        return active.definitions, candidate, model

    async def run(
        self,
        current: Definitions,
        candidate: Definitions,
        model: Model,
        pages: AsyncIterator[ArchivePage],
        progress: ReportProgress,
    ) -> dict[str, Any]:
        sides = (Side(current), Side(candidate))
        engagements: dict[str, NurtureEngagement] = {}
        last_seen: dict[str, datetime] = {}
        processed, total = 0, None
        async for page in pages:
            total = page.total if page.total is not None else total
            for envelope in page.events:
                processed += 1
                data = parse_data(envelope)
                if not isinstance(data, LeadCaptured | LeadMerged | LeadRecycled):
                    continue
                if isinstance(data, LeadRecycled):
                    engagements[data.lead_id] = NurtureEngagement(
                        data.engagement_score, tuple(data.engagements)
                    )
                last_seen[data.lead_id] = envelope.time
                for side in sides:
                    before = side.verdicts.get(data.lead_id)
                    if isinstance(data, LeadMerged) and before and before.outcome == "qualified":
                        continue  # with a rep already: the live qualifier leaves it alone
                    side.verdicts[data.lead_id] = decide(
                        data.lead, side.definitions, model, engagements.get(data.lead_id)
                    )
            await progress(processed, total)
        return self._result(sides, model, last_seen).model_dump(mode="json")

    def _result(
        self, sides: tuple[Side, Side], model: Model, last_seen: dict[str, datetime]
    ) -> QualifierBacktestResult:
        current, candidate = sides
        changes: list[StageChange] = []
        changed = 0
        for lead_id in sorted(current.verdicts, key=lambda i: (last_seen[i], i)):
            a, b = current.verdicts[lead_id], candidate.verdicts[lead_id]
            differs = _differences(a, b)
            if not differs:
                continue
            changed += 1
            if len(changes) < MAX_LISTED:
                changes.append(
                    StageChange(
                        lead_id=lead_id,
                        decided_at=last_seen[lead_id],
                        changed=differs,
                        current=_verdict(a),
                        candidate=_verdict(b),
                    )
                )

        def count(key: Callable[[Verdict], str]) -> list[BacktestCount]:
            a, b = (Counter(key(v) for v in side.verdicts.values()) for side in sides)
            return side_by_side(a, b)

        return QualifierBacktestResult(
            definition_versions={
                "current": current.definitions.version,
                "candidate": candidate.definitions.version,
            },
            model_version=model.version,
            leads=len(current.verdicts),
            changed=changed,
            outcomes=count(lambda v: v.outcome),
            stages=count(lambda v: v.decision.stage),
            lifecycles=count(lambda v: v.decision.lifecycle),
            terms=count(lambda v: v.decision.term),
            changes=changes,
        )
