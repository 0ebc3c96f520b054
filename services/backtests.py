"""Backtest jobs: what the router's and the qualifier's backtests share (docs/routing.md and
docs/qualification.md, "Backtests").

- `backtests_table`: the jobs' table, one per service in the service's own migrations
  stream (`router_backtests`, `qualifier_backtests`): a job's window, candidate, progress
  and, once done, its result, kept until deleted.
- `BacktestJobs`: creates a job, runs its work as a task of this process, records its
  progress and its result or failure. It is a `ServiceSpec` worker, so the runtime stops it:
  a job still running then is marked failed. A job whose process died (kill -9) is marked
  failed once its heartbeat (each progress write) is older than `STALE_AFTER`, by the next
  start of a process of the service or the next read: jobs survive nothing special, they
  are run again by asking again.
- `Archive`: reads audit's export of archived events of a window (`GET
  /audit/v1/archive/events`, paged) over HTTP, with the caller's own key: at
  `LEADFARM_AUDIT_URL` in the cluster, in process through the app itself when this process
  serves audit (the embedded runtime). docs/architecture.md, "Backtests", says why.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar

import httpx
from fastapi import APIRouter, Path, Request
from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, select, update

from contracts.envelope import Envelope
from contracts.ids import new_id
from services.auth import ManagerKey
from services.db import Conn, UnitOfWork, connection_of
from services.outbound import OutboundClient
from services.problems import Problem
from services.sqltypes import Json, UTCDateTime

log = logging.getLogger(__name__)

Status = Literal["running", "done", "failed"]
STALE_AFTER = timedelta(seconds=60)
"""A running job whose heartbeat is older than this has lost its process."""
MAX_WINDOW = timedelta(days=400)
PAGE_SIZE = 200
"""Archived events per page of audit's export."""
ARCHIVE_MAX_BYTES = 16 * 1024 * 1024
"""The largest page read from audit (a lead event is a few KiB; ingest bounds profiles)."""
KEPT = 100
"""Jobs listed, newest first."""
ARCHIVE_DEADLINE_S = 30.0
STOPPED = "the process running it stopped before it finished; run it again"


def backtests_table(name: str, metadata: MetaData) -> Table:
    """A service's table of backtest jobs (the same columns for every service)."""
    return Table(
        name,
        metadata,
        Column("id", String(36), primary_key=True),
        Column("status", String(16), nullable=False),
        Column("since", UTCDateTime, nullable=False),
        Column("until", UTCDateTime, nullable=False),
        Column("candidate", Json, nullable=False),
        Column("requested_by", String(64), nullable=False),
        Column("processed", Integer, nullable=False, default=0),
        Column("total", Integer, nullable=True),
        Column("result", Json, nullable=True),
        Column("error", Text, nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("heartbeat_at", UTCDateTime, nullable=False),
        Column("finished_at", UTCDateTime, nullable=True),
    )


class Window(BaseModel):
    """The archived events a backtest replays: those whose time is in [since, until)."""

    since: AwareDatetime = Field(description="First instant of the window (inclusive)")
    until: AwareDatetime = Field(description="End of the window (exclusive)")

    @field_validator("until")
    @classmethod
    def _after_since(cls, until: datetime, info: ValidationInfo) -> datetime:
        since = info.data.get("since")
        if since is not None and until <= since:
            raise ValueError("must be after since")
        if since is not None and until - since > MAX_WINDOW:
            raise ValueError(f"the window is longer than {MAX_WINDOW.days} days")
        return until


class BacktestCount(BaseModel):
    """How many leads have `key` (a stage, a pool, a rep...) on each side."""

    key: str
    current: int
    candidate: int


def side_by_side(current: Counter[str], candidate: Counter[str]) -> list[BacktestCount]:
    return [
        BacktestCount(key=k, current=current[k], candidate=candidate[k])
        for k in sorted(set(current) | set(candidate))
    ]


class BacktestProgress(BaseModel):
    processed: int = Field(description="Archived events replayed so far")
    total: int | None = Field(
        description="Archived events in the window (known after the first page)"
    )


ResultT = TypeVar("ResultT")


class BacktestJob(BaseModel, Generic[ResultT]):
    """A backtest job; each service's answer names its result's model."""

    id: str
    status: Status
    since: datetime
    until: datetime
    requested_by: str
    progress: BacktestProgress
    created_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    candidate: dict[str, Any]
    result: ResultT | None = Field(None, description="The comparison, once done")


class BacktestSummary(BaseModel):
    id: str
    status: Status
    since: datetime
    until: datetime
    requested_by: str
    progress: BacktestProgress
    created_at: datetime
    finished_at: datetime | None = None


StoredJob = BacktestJob[dict[str, Any]]


def _out(row: Any) -> StoredJob:
    return StoredJob(
        id=row.id,
        status=row.status,
        since=row.since,
        until=row.until,
        requested_by=row.requested_by,
        progress=BacktestProgress(processed=row.processed, total=row.total),
        created_at=row.created_at,
        finished_at=row.finished_at,
        error=row.error,
        candidate=row.candidate,
        result=row.result,
    )


ReportProgress = Callable[[int, int | None], Awaitable[None]]
Work = Callable[[ReportProgress], Awaitable[dict[str, Any]]]


class BacktestJobs:
    """A service's backtest jobs: stored in its table, run as tasks of this process."""

    def __init__(self, unit: UnitOfWork, table: Table) -> None:
        self.unit = unit
        self.table = table
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._stopped = asyncio.Event()

    async def create(
        self, window: Window, candidate: dict[str, Any], requested_by: str
    ) -> StoredJob:
        job_id = new_id()
        async with self.unit.transaction() as tx:
            now = tx.now()
            await tx.conn.execute(
                self.table.insert().values(
                    id=job_id,
                    status="running",
                    since=window.since,
                    until=window.until,
                    candidate=candidate,
                    requested_by=requested_by,
                    processed=0,
                    total=None,
                    created_at=now,
                    heartbeat_at=now,
                )
            )
            row = await self._row(tx, job_id)
        assert row is not None
        return row

    def start(self, job_id: str, work: Work) -> None:
        """Run `work` as a task; its progress, result or failure go to the job's row."""
        task = asyncio.create_task(self._run(job_id, work), name=f"backtest {job_id}")
        self.tasks[job_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(job_id, None))

    async def _run(self, job_id: str, work: Work) -> None:
        async def progress(processed: int, total: int | None) -> None:
            await self._set(job_id, processed=processed, total=total)

        try:
            result = await work(progress)
        except Exception as exc:  # any failure is the job's, and is recorded
            log.warning("backtest %s failed", job_id, exc_info=True)
            await self._finish(job_id, "failed", error=_reason(exc))
            return
        await self._finish(job_id, "done", result=result)

    async def _set(self, job_id: str, **values: Any) -> None:
        async with self.unit.transaction() as tx:
            await tx.conn.execute(
                update(self.table)
                .where(self.table.c.id == job_id, self.table.c.status == "running")
                .values(heartbeat_at=tx.now(), **values)
            )

    async def _finish(
        self,
        job_id: str,
        status: Status,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        async with self.unit.transaction() as tx:
            await tx.conn.execute(
                update(self.table)
                .where(self.table.c.id == job_id, self.table.c.status == "running")
                .values(status=status, result=result, error=error, finished_at=tx.now())
            )

    async def fail_lost(self) -> int:
        """Mark failed the running jobs whose process stopped (no heartbeat for
        `STALE_AFTER`, and not running here). A read first: mostly there are none."""
        t = self.table
        now = self.unit.clock.now()
        lost = [t.c.status == "running", t.c.heartbeat_at < now - STALE_AFTER]
        if self.tasks:
            lost.append(t.c.id.not_in(list(self.tasks)))
        async with self.unit.read() as conn:
            ids = [r.id for r in (await conn.execute(select(t.c.id).where(*lost))).all()]
        if not ids:
            return 0
        async with self.unit.transaction() as tx:
            result = await tx.conn.execute(
                update(t)
                .where(t.c.id.in_(ids), *lost)  # unless it beat meanwhile
                .values(status="failed", error=STOPPED, finished_at=tx.now())
            )
        return int(result.rowcount or 0)

    async def get(self, job_id: str) -> StoredJob | None:
        await self.fail_lost()
        async with self.unit.read() as conn:
            return await self._row(conn, job_id)

    async def list(self) -> list[BacktestSummary]:
        await self.fail_lost()
        t = self.table
        async with self.unit.read() as conn:
            rows = (
                await conn.execute(
                    select(*(c for c in t.c if c.name not in ("result", "candidate")))
                    .order_by(t.c.created_at.desc(), t.c.id)
                    .limit(KEPT)
                )
            ).all()
        return [
            BacktestSummary(
                id=r.id,
                status=r.status,
                since=r.since,
                until=r.until,
                requested_by=r.requested_by,
                progress=BacktestProgress(processed=r.processed, total=r.total),
                created_at=r.created_at,
                finished_at=r.finished_at,
            )
            for r in rows
        ]

    async def delete(self, job_id: str) -> bool | None:
        """Forget a finished job (None: it is still running)."""
        async with self.unit.transaction() as tx:
            job = await self._row(tx, job_id)
            if job is None:
                return False
            if job.status == "running":
                return None
            await tx.conn.execute(self.table.delete().where(self.table.c.id == job_id))
        return True

    async def _row(self, conn: Conn, job_id: str) -> StoredJob | None:
        c = connection_of(conn)
        row = (await c.execute(select(self.table).where(self.table.c.id == job_id))).first()
        return _out(row) if row else None

    # --- the runtime's worker ---------------------------------------------------------------

    async def on_start(self) -> None:
        """At start, a job a dead process left running is marked failed."""
        await self.fail_lost()

    async def run(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        """Jobs still running are cancelled and marked failed (a task may be cancelled
        before it ever ran, so this, not the task, records it)."""
        self._stopped.set()
        running = dict(self.tasks)
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
        for job_id in running:
            await self._finish(job_id, "failed", error=STOPPED)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ArchiveError):
        return str(exc)
    return f"the backtest failed ({type(exc).__name__}); see the service's log"


# --- the archive ------------------------------------------------------------------------------


class ArchiveError(Exception):
    """Audit's export could not be read."""


@dataclass(frozen=True)
class ArchivePage:
    events: list[Envelope]
    total: int | None


class Archive:
    """Audit's archived events of a window, page after page, read over HTTP with the key of
    whoever asked for the backtest (it reads what they may read, nothing more)."""

    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.transport = transport

    @classmethod
    def for_request(cls, audit_url: str | None, request: Request) -> Archive:
        """Audit at `audit_url`; unset, the app of this request when it serves audit (the
        embedded runtime, called in process); else a 503 problem saying what to set."""
        if audit_url:
            return cls(audit_url, None)
        if any(spec.name == "audit" for spec in request.app.state.runtime.specs):
            return cls("http://leadfarm.internal", httpx.ASGITransport(app=request.app))
        raise Problem(
            503,
            "This process does not serve audit, whose archive a backtest replays; set "
            "LEADFARM_AUDIT_URL to audit's address (e.g. http://audit:8000).",
        )

    async def pages(
        self, authorization: str, types: list[str], window: Window
    ) -> AsyncIterator[ArchivePage]:
        async with OutboundClient(
            deadline_s=ARCHIVE_DEADLINE_S,
            user_agent="leadfarm-backtest",
            max_response_bytes=ARCHIVE_MAX_BYTES,
            transport=self.transport,
        ) as client:
            after: str | None = None
            while True:
                params: dict[str, str | list[str]] = {
                    "type": types,
                    "since": window.since.isoformat(),
                    "until": window.until.isoformat(),
                    "limit": str(PAGE_SIZE),
                }
                if after is not None:
                    params["after"] = after
                try:
                    response = await client.get(
                        f"{self.base_url}/audit/v1/archive/events",
                        params=params,
                        headers={"Authorization": authorization},
                    )
                except httpx.HTTPError as exc:
                    raise ArchiveError(
                        f"audit's archive did not answer ({type(exc).__name__})"
                    ) from exc
                if response.status_code == 429:  # the caller's key is over its rate limit
                    await asyncio.sleep(min(float(response.headers.get("retry-after", 1)), 10))
                    continue
                if response.status_code != 200:
                    raise ArchiveError(
                        f"audit's archive answered {response.status_code}: {_detail(response)}"
                    )
                body = response.json()
                yield ArchivePage(
                    [Envelope.model_validate(e) for e in body["events"]], body.get("total")
                )
                after = body.get("next")
                if after is None:
                    return


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail or response.reason_phrase)[:300]


BacktestT = TypeVar("BacktestT")


@dataclass(frozen=True)
class BacktestDeps(Generic[BacktestT]):
    """What a service's backtest routes use: its backtest, its jobs and where audit's archive
    is (None: in this process)."""

    backtest: BacktestT
    jobs: BacktestJobs
    audit_url: str | None


def job_routes(router: APIRouter, jobs: BacktestJobs, out: type[BacktestJob[Any]]) -> None:
    """`GET /backtests`, `GET` and `DELETE /backtests/{id}` on a service's router (manager
    scope)."""

    @router.get("/backtests", response_model=list[BacktestSummary])
    async def list_backtests(_: ManagerKey) -> list[BacktestSummary]:
        """The kept backtests, newest first (the newest 100, without their results)."""
        return await jobs.list()

    @router.get("/backtests/{backtest_id}", response_model=out)
    async def get_backtest(
        backtest_id: Annotated[str, Path(max_length=36)], _: ManagerKey
    ) -> BacktestJob[Any]:
        """A backtest: its progress while it runs, its comparison once done."""
        job = await jobs.get(backtest_id)
        if job is None:
            raise Problem(404, f"There is no backtest {backtest_id!r}.")
        return out.model_validate(job.model_dump())

    @router.delete("/backtests/{backtest_id}", status_code=204)
    async def delete_backtest(
        backtest_id: Annotated[str, Path(max_length=36)], _: ManagerKey
    ) -> None:
        """Forget a finished backtest and its result."""
        deleted = await jobs.delete(backtest_id)
        if deleted is None:
            raise Problem(409, f"Backtest {backtest_id!r} is still running; wait for it.")
        if not deleted:
            raise Problem(404, f"There is no backtest {backtest_id!r}.")
