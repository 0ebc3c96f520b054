"""The qualifier's backtests under /qualifier/v1/backtests (manager scope): replay a window
of archived lead events under a candidate definitions version (qualifier/backtests.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from qualifier.backtests import (
    LEAD_EVENTS,
    QualifierBacktest,
    QualifierBacktestIn,
    QualifierBacktestOut,
)
from services.auth import ManagerKey
from services.backtests import (
    Archive,
    BacktestDeps,
    BacktestJob,
    BacktestJobs,
    ReportProgress,
    job_routes,
)
from services.binding import Binding

bound = Binding[BacktestDeps[QualifierBacktest]]("qualifier_backtests")
Deps = Annotated[BacktestDeps[QualifierBacktest], Depends(bound)]

routes = APIRouter()


def build_backtest_router(
    backtest: QualifierBacktest, jobs: BacktestJobs, audit_url: str | None
) -> APIRouter:
    """The backtests' routes (included in the /qualifier/v1 router) with what they use."""
    router = APIRouter(dependencies=[bound.to(BacktestDeps(backtest, jobs, audit_url))])
    router.include_router(routes)
    job_routes(router, jobs, QualifierBacktestOut)
    return router


@routes.post(
    "/backtests",
    status_code=202,
    response_model=QualifierBacktestOut,
    responses={
        422: {"description": "The window or the definitions do not validate"},
        503: {"description": "This process cannot reach audit's archive"},
    },
)
async def start_backtest(
    deps: Deps,
    body: QualifierBacktestIn,
    request: Request,
    response: Response,
    principal: ManagerKey,
) -> BacktestJob[Any]:
    """How would the leads captured, merged or recycled in `[since, until)` have been
    decided under these definitions, against the active ones? Answers 202 with the job
    at once; `GET /backtests/{id}` shows its progress and, when done, the comparison.
    Nothing is stored but the job, nothing is said, and the active version stays."""
    archive = Archive.for_request(deps.audit_url, request)
    current, candidate, model = await deps.backtest.sides(body)
    job = await deps.jobs.create(body, body.model_dump(mode="json"), principal.key_id)
    authorization = request.headers["authorization"]

    async def work(progress: ReportProgress) -> dict[str, Any]:
        pages = archive.pages(authorization, LEAD_EVENTS, body)
        return await deps.backtest.run(current, candidate, model, pages, progress)

    deps.jobs.start(job.id, work)
    response.headers["Location"] = f"/qualifier/v1/backtests/{job.id}"
    return job
