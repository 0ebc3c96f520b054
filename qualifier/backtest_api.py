"""The qualifier's backtests under /qualifier/v1/backtests (manager scope): replay a window
of archived lead events under a candidate definitions version (qualifier/backtests.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from qualifier.api import invalid_definitions
from qualifier.backtests import (
    LEAD_EVENTS,
    QualifierBacktest,
    QualifierBacktestIn,
    QualifierBacktestOut,
)
from qualifier.definitions import DefinitionsError
from services.auth import ManagerKey
from services.backtests import Archive, BacktestJob, BacktestJobs, ReportProgress, job_routes


def build_backtest_router(
    backtest: QualifierBacktest, jobs: BacktestJobs, audit_url: str | None
) -> APIRouter:
    router = APIRouter()  # included in the /qualifier/v1 router

    @router.post(
        "/backtests",
        status_code=202,
        response_model=QualifierBacktestOut,
        responses={
            422: {"description": "The window or the definitions do not validate"},
            503: {"description": "This process cannot reach audit's archive"},
        },
    )
    async def start_backtest(
        body: QualifierBacktestIn, request: Request, response: Response, principal: ManagerKey
    ) -> BacktestJob[Any]:
        """How would the leads captured, merged or recycled in `[since, until)` have been
        decided under these definitions, against the active ones? Answers 202 with the job
        at once; `GET /backtests/{id}` shows its progress and, when done, the comparison.
        Nothing is stored but the job, nothing is said, and the active version stays."""
        archive = Archive.for_request(audit_url, request)
        try:
            current, candidate, model = await backtest.sides(body)
        except DefinitionsError as exc:
            raise invalid_definitions(exc) from exc
        job = await jobs.create(body, body.model_dump(mode="json"), principal.key_id)
        authorization = request.headers["authorization"]

        async def work(progress: ReportProgress) -> dict[str, Any]:
            pages = archive.pages(authorization, LEAD_EVENTS, body)
            return await backtest.run(current, candidate, model, pages, progress)

        jobs.start(job.id, work)
        response.headers["Location"] = f"/qualifier/v1/backtests/{job.id}"
        return job

    job_routes(router, jobs, QualifierBacktestOut)
    return router
