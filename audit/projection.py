"""A run of events' effects on audit's read models, folded in memory and written per table.

The fold and the SQL that writes it (`repository.leads.upsert_leads`) are two halves of one
rule: each column of `audit_leads` is merged the same way in both, so the stored row is the
same whether a lead's events come one per transaction or many in one run.

| column | merge |
| --- | --- |
| `first_seen_at` and every milestone (`captured_at`, `won_at`, ...) | the earliest |
| `source`, `source_class`, `campaign` | the first seen (the attribution never moves) |
| `is_test` | true once any event says so |
| `timeframe_days`, `term`, `rep_id` | the latest said |
| `stage_rank` | the furthest |
| `assigned_at` with its `first_touch_due_at` | the earliest assignment's |
| `touches` | added up |

Every merge is associative, so folding a run and merging the result into the stored row
gives what merging each event into it in turn gives; and it is computed in SQL from the
stored values at write time, so two replicas writing one lead's row (its events arrive on
several topics) cannot lose each other's updates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from audit.records import LeadRow

Stage = Literal["raw", "basic_qualified", "sales_qualified"]
STAGE_RANK = {"raw": 0, "basic_qualified": 1, "sales_qualified": 2}
"""A lead's stage as the read model keeps it (`stage_rank`), so the furthest is the largest."""
STAGE_NAMES = {rank: name for name, rank in STAGE_RANK.items()}


def stage_name(rank: int) -> Stage:
    return cast(Stage, STAGE_NAMES[rank])


MILESTONES = (
    "captured_at",
    "qualified_at",
    "disqualified_at",
    "first_touch_at",
    "accepted_at",
    "opportunity_at",
    "won_at",
    "lost_at",
    "returned_at",
)
"""The lead's milestone columns: each keeps the earliest time seen."""


def _earliest(current: datetime | None, value: datetime) -> datetime:
    return value if current is None or current > value else current


@dataclass
class LeadChange:
    """What a run's events change on one lead's row (None: this run says nothing)."""

    lead_id: str
    first_seen_at: datetime
    source: str | None = None
    source_class: str | None = None
    campaign: str | None = None
    is_test: bool = False
    timeframe_days: int | None = None
    stage_rank: int = 0
    term: str | None = None
    rep_id: str | None = None
    assigned_at: datetime | None = None
    first_touch_due_at: datetime | None = None
    touches: int = 0
    milestones: dict[str, datetime] = field(default_factory=dict)

    def seen(self, at: datetime) -> None:
        self.first_seen_at = _earliest(self.first_seen_at, at)

    def profile(
        self,
        *,
        source: str,
        source_class: str,
        campaign: str | None,
        is_test: bool,
        timeframe_days: int | None,
    ) -> None:
        if self.source is None:
            self.source = source
        if self.source_class is None:
            self.source_class = source_class
        if self.campaign is None:
            self.campaign = campaign
        self.is_test = self.is_test or is_test
        if timeframe_days is not None:
            self.timeframe_days = timeframe_days

    def milestone(self, column: str, at: datetime) -> None:
        assert column in MILESTONES, column
        self.milestones[column] = _earliest(self.milestones.get(column), at)

    def stage(self, rank: int, term: str, at: datetime) -> None:
        self.stage_rank = max(self.stage_rank, rank)
        self.term = term
        if rank >= 2:
            self.milestone("qualified_at", at)

    def assign(self, rep_id: str, at: datetime, due_at: datetime) -> None:
        """The lead's current rep; its first assignment and that assignment's deadline."""
        self.rep_id = rep_id
        if self.assigned_at is None or self.assigned_at > at:
            self.assigned_at, self.first_touch_due_at = at, due_at

    def touch(self, at: datetime) -> None:
        self.touches += 1
        self.milestone("first_touch_at", at)

    def merged_into(self, stored_row: LeadRow | None) -> LeadRow:
        """The lead's row once this change is merged into `stored_row` (None: no row yet), as
        `repository.upsert_leads` merges it in SQL."""
        said = self.row()
        if stored_row is None:
            return LeadRow(**said, erased_at=None)
        stored = vars(stored_row)  # its columns, not copied (asdict deep-copies each)
        row = dict(stored)
        row["first_seen_at"] = _earliest(stored["first_seen_at"], self.first_seen_at)
        for column in ("source", "source_class", "campaign"):
            if stored[column] is None:
                row[column] = said[column]
        row["is_test"] = bool(stored["is_test"]) or self.is_test
        for column in ("timeframe_days", "term", "rep_id"):
            if said[column] is not None:
                row[column] = said[column]
        row["stage_rank"] = max(stored["stage_rank"], self.stage_rank)
        if self.assigned_at is not None and (
            stored["assigned_at"] is None or stored["assigned_at"] > self.assigned_at
        ):
            row["assigned_at"] = self.assigned_at
            row["first_touch_due_at"] = self.first_touch_due_at
        row["touches"] = stored["touches"] + self.touches
        for column, at in self.milestones.items():
            row[column] = _earliest(stored[column], at)
        return LeadRow(**row)

    def row(self) -> dict[str, Any]:
        """The parameters of `repository.upsert_leads` (every column, None where unsaid)."""
        return {
            "lead_id": self.lead_id,
            "first_seen_at": self.first_seen_at,
            "source": self.source,
            "source_class": self.source_class,
            "campaign": self.campaign,
            "is_test": self.is_test,
            "timeframe_days": self.timeframe_days,
            "stage_rank": self.stage_rank,
            "term": self.term,
            "rep_id": self.rep_id,
            "assigned_at": self.assigned_at,
            "first_touch_due_at": self.first_touch_due_at,
            "touches": self.touches,
            **{column: self.milestones.get(column) for column in MILESTONES},
        }


@dataclass
class Assignment:
    """One assignment as the run knows it: what is stored, then what the run did to it."""

    assignment_id: str
    lead_id: str
    rep_id: str
    assigned_at: datetime
    due_at: datetime
    ended_at: datetime | None = None
