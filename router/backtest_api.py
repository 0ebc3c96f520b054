"""The router's backtests under /router/v1/backtests (manager scope): replay a window of
archived qualified leads under candidate rules and pools (router/backtests.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from router.backtests import QUALIFIED, RouterBacktest, RouterBacktestIn, RouterBacktestOut
from services.auth import ManagerKey
from services.backtests import Archive, BacktestJob, BacktestJobs, ReportProgress, job_routes


def build_backtest_router(
    backtest: RouterBacktest, jobs: BacktestJobs, audit_url: str | None
) -> APIRouter:
    router = APIRouter()  # included in the /router/v1 router

    @router.post(
        "/backtests",
        status_code=202,
        response_model=RouterBacktestOut,
        responses={503: {"description": "This process cannot reach audit's archive"}},
    )
    async def start_backtest(
        body: RouterBacktestIn, request: Request, response: Response, principal: ManagerKey
    ) -> BacktestJob[Any]:
        """Where would the leads qualified in `[since, until)` have gone under these rules
        and pools, against the current ones? Answers 202 with the job at once; `GET
        /backtests/{id}` shows its progress and, when done, the comparison. Nothing live is
        touched: no event, assignment, cursor or timer."""
        archive = Archive.for_request(audit_url, request)
        current, candidate = await backtest.configs(body)
        job = await jobs.create(body, body.model_dump(mode="json"), principal.key_id)
        authorization = request.headers["authorization"]

        async def work(progress: ReportProgress) -> dict[str, object]:
            pages = archive.pages(authorization, [QUALIFIED], body)
            return await backtest.run(current, candidate, pages, progress)

        jobs.start(job.id, work)
        response.headers["Location"] = f"/router/v1/backtests/{job.id}"
        return job

    job_routes(router, jobs, RouterBacktestOut)
    return router
