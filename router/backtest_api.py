"""The router's backtests under /router/v1/backtests (manager scope): replay a window of
archived qualified leads under candidate rules and pools (router/backtests.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from router.backtests import QUALIFIED, RouterBacktest
from router.schemas.backtests import RouterBacktestIn, RouterBacktestOut, RouterBacktestResult
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

bound = Binding[BacktestDeps[RouterBacktest]]("router_backtests")
Deps = Annotated[BacktestDeps[RouterBacktest], Depends(bound)]

routes = APIRouter()


def build_backtest_router(
    backtest: RouterBacktest, jobs: BacktestJobs, audit_url: str | None
) -> APIRouter:
    """The backtests' routes (included in the /router/v1 router) with what they use."""
    router = APIRouter(dependencies=[bound.to(BacktestDeps(backtest, jobs, audit_url))])
    router.include_router(routes)
    job_routes(router, jobs, RouterBacktestOut)
    return router


@routes.post(
    "/backtests",
    status_code=202,
    response_model=RouterBacktestOut,
    responses={503: {"description": "This process cannot reach audit's archive"}},
)
async def start_backtest(
    deps: Deps, body: RouterBacktestIn, request: Request, response: Response, principal: ManagerKey
) -> BacktestJob[Any]:
    """Where would the leads qualified in `[since, until)` have gone under these rules
    and pools, against the current ones? Answers 202 with the job at once; `GET
    /backtests/{id}` shows its progress and, when done, the comparison. Nothing live is
    touched: no event, assignment, cursor or timer."""
    archive = Archive.for_request(deps.audit_url, request)
    candidate_bodies = body.model_dump()
    current, candidate = await deps.backtest.configs(
        candidate_bodies["rules"], candidate_bodies["pools"]
    )
    job = await deps.jobs.create(body, body.model_dump(mode="json"), principal.key_id)
    authorization = request.headers["authorization"]

    async def work(progress: ReportProgress) -> dict[str, object]:
        pages = archive.pages(authorization, [QUALIFIED], body)
        result = await deps.backtest.run(current, candidate, pages, progress)
        return RouterBacktestResult.of(result).model_dump(mode="json")

    deps.jobs.start(job.id, work)
    response.headers["Location"] = f"/router/v1/backtests/{job.id}"
    return job
