"""The router's backtest bodies: the candidate (`POST /router/v1/backtests`), in the bodies
the live API takes, and the job with its comparison (made of router/backtests.py's
`BacktestResult` with `of`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from router.backtests import MAX_LISTED, BacktestResult
from router.schemas.common import ID_PATTERN
from router.schemas.pools import PoolIn, RuleIn
from services.backtests import BacktestCount, BacktestJob, Window

Id = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=ID_PATTERN)]


class RouterBacktestIn(Window):
    """A candidate to replay the window's leads under, in the bodies the live API takes."""

    model_config = ConfigDict(extra="forbid")

    rules: dict[Id, RuleIn] | None = Field(
        None,
        description="The candidate's whole rule set by rule id, each as `PUT /rules/{id}` "
        "takes it (disabled ones are kept but not tried); omitted: the current rules",
    )
    pools: dict[Id, PoolIn] = Field(
        default_factory=dict,
        description="Pools the candidate adds or replaces by pool id, each as "
        "`PUT /pools/{id}` takes it; the other pools stay as they are",
    )


class BacktestPlacement(BaseModel):
    """Where one side put a lead, in short."""

    outcome: str = Field(description="assign, hold or queue")
    rule: str
    pool: str
    strategy: str
    rep_id: str | None
    why: str
    first_touch_due_at: datetime | None
    held_until: datetime | None = None
    explanation: dict[str, Any] | None = Field(
        None, description="The full decision, as the live router explains it (changes only)"
    )


class RoutingChange(BaseModel):
    lead_id: str
    qualified_at: datetime
    changed: list[str] = Field(description="What differs: outcome, pool, rep")
    current: BacktestPlacement
    candidate: BacktestPlacement


class FirstTouchDeadline(BaseModel):
    lead_id: str
    qualified_at: datetime
    current: datetime | None
    candidate: datetime | None


class BacktestRepLoad(BaseModel):
    """A rep's load over the window on one side."""

    assigned: int = Field(description="Leads assigned in the window (all still open at its end)")
    busiest_day: int = Field(description="Most leads assigned on one of the rep's local days")
    capped: int = Field(description="Times the rep was passed over at a cap")


class BacktestRepComparison(BaseModel):
    rep_id: str
    name: str
    max_open_leads: int | None
    daily_cap: int | None
    current: BacktestRepLoad
    candidate: BacktestRepLoad


class FirstTouchSummary(BaseModel):
    """The first-touch deadlines a side set, as minutes from qualification to deadline."""

    deadlines: int
    median_minutes: float | None
    max_minutes: float | None


class FirstTouchSides(BaseModel):
    current: FirstTouchSummary
    candidate: FirstTouchSummary


class RouterBacktestResult(BaseModel):
    leads: int = Field(description="Leads replayed (each at its first lead.qualified)")
    changed: int = Field(description="Leads whose outcome, pool or rep differ")
    outcomes: list[BacktestCount]
    rules: list[BacktestCount]
    pools: list[BacktestCount]
    reps: list[BacktestRepComparison]
    first_touch: FirstTouchSides
    changes: list[RoutingChange] = Field(description=f"The first {MAX_LISTED} changed leads")
    deadlines: list[FirstTouchDeadline] = Field(
        description=f"Each lead's first-touch deadline on both sides (the first {MAX_LISTED})"
    )

    @classmethod
    def of(cls, result: BacktestResult) -> RouterBacktestResult:
        return cls.model_validate(result, from_attributes=True)


class RouterBacktestOut(BacktestJob[RouterBacktestResult]):
    """A router backtest job."""
