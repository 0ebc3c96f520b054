"""audit's HTTP API under /audit/v1: timelines, erasures, Prospect Satisfaction audits, the
forecast and its removal workflow, roles, spend, metrics (JSON or CSV) and the dashboard."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response

from audit import dashboard, erasures, leads, roles, story
from audit.deps import Audits, Services, TheForecast, TheReports, TheSettings, Unit, bound
from audit.forecast import Forecast
from audit.params import (
    PERIOD,
    SOURCE_NAME,
    After,
    EventTypes,
    FirstMonth,
    Grouping,
    LastMonth,
    Metric,
    SearchText,
    Since,
    Until,
    archive_window,
    grouping,
    months,
    path,
    report_response,
    search_text,
    spend_currency,
)
from audit.schemas import (
    ArchivePage,
    AuditOpen,
    AuditOut,
    AuditOutcomeIn,
    ErasureIn,
    ErasureOut,
    ForecastEntryOut,
    ForecastOut,
    LeadListItem,
    LeadSummary,
    Reason,
    RemovalRequestOut,
    RepNameOut,
    RoleGrant,
    RoleOut,
    SpendIn,
    SpendOut,
    Timeline,
    TimelineSummary,
)
from services.auth import AdminKey, ManagerKey, RepKey
from services.db import UnitOfWork
from services.problems import Problem

routes = APIRouter()


def build_router(services: Services) -> APIRouter:
    """audit's routes (and the dashboard's), bound to the composition root's objects."""
    router = APIRouter(prefix="/audit/v1", tags=["audit"], dependencies=[bound.to(services)])
    router.include_router(routes)
    dashboard.add_routes(router)
    return router


# --- a lead's story ------------------------------------------------------------------
@routes.get("/reps", response_model=list[RepNameOut])
async def list_reps(_: ManagerKey, unit: Unit) -> list[RepNameOut]:
    """Every rep audit has seen assigned a lead, with the name the router last gave."""
    async with unit.read() as conn:
        names = await leads.reps(conn)
    return [RepNameOut(rep_id=rep_id, name=name) for rep_id, name in sorted(names.items())]


@routes.get("/archive/events", response_model=ArchivePage)
async def archive_events(
    _: ManagerKey,
    unit: Unit,
    type_: EventTypes,
    since: Since,
    until: Until,
    after: After = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> ArchivePage:
    """The archived events of these types in a time window, oldest first, a page at a
    time (the export the router's and the qualifier's backtests replay). Events of
    erased persons are left out."""
    cursor = archive_window(type_, since, until, after)
    async with unit.read() as conn:
        page = await leads.export(conn, type_, since, until, after=cursor, limit=limit)
    rows = page.events
    last = rows[-1] if len(rows) == limit else None
    return ArchivePage(
        events=[envelope for _, _, envelope in rows],
        next=f"{last[0].isoformat()}|{last[1]}" if last else None,
        total=page.total,
    )


@routes.get("/leads/{lead_id}/timeline", response_model=Timeline)
async def timeline(lead_id: str, _: ManagerKey, unit: Unit) -> Timeline:
    """Every event about the lead, in order, each a CloudEvent (`source` names the
    service that said it). After an erasure the person's data is redacted."""
    async with unit.read() as conn:
        events = await leads.story(conn, lead_id)
    if not events:
        raise Problem(404, f"Audit has no events for lead {lead_id!r}.")
    return Timeline(lead_id=lead_id, events=events)


@routes.get("/leads/{lead_id}/timeline/summary", response_model=TimelineSummary)
async def timeline_summary(lead_id: str, _: ManagerKey, unit: Unit) -> TimelineSummary:
    """The timeline in short: one line per event with when, what happened and who did
    it, in words (no contact data; the full events are at `/timeline`)."""
    async with unit.read() as conn:
        events = await leads.story(conn, lead_id)
    if not events:
        raise Problem(404, f"Audit has no events for lead {lead_id!r}.")
    return TimelineSummary(lead_id=lead_id, events=[story.line_of(e) for e in events])


@routes.get("/leads", response_model=list[LeadListItem])
async def list_leads(
    _: ManagerKey,
    unit: Unit,
    q: SearchText = None,
    stage: Literal["raw", "basic_qualified", "sales_qualified"] | None = None,
    rep_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[LeadListItem]:
    """Leads as audit knows them, the most recently captured first: with `q`, those
    found by email, company or id; without, every lead (no personal data), `stage` and
    `rep_id` filtering."""
    if q is not None:
        text = search_text(q)
        async with unit.read() as conn:
            matches = await leads.search(conn, text, limit)
        return [LeadListItem.of_match(match) for match in matches]
    async with unit.read() as conn:
        found = await leads.listing(conn, stage=stage, rep_id=rep_id, limit=limit)
    return [LeadListItem.of_lead(lead) for lead in found]


@routes.get("/leads/{lead_id}", response_model=LeadSummary)
async def lead_summary(lead_id: str, _: ManagerKey, unit: Unit) -> LeadSummary:
    """What audit knows of the lead (no personal data): source, stage, rep, first touch,
    outcome, forecast entries and audits."""
    async with unit.read() as conn:
        summary = await leads.summary(conn, lead_id)
    if summary is None:
        raise Problem(404, f"Audit has not seen lead {lead_id!r}.")
    return LeadSummary.of(summary)


@routes.post("/erasures", status_code=201, response_model=ErasureOut)
async def erase(body: ErasureIn, principal: AdminKey, unit: Unit) -> ErasureOut:
    """Erase a person (the lead and everything merged into it) from every service.

    Audit erases its own store in this request: archived events about the lead are
    redacted (contact details, names, company, free text, and those values wherever
    other fields echo them) and audit comments dropped. Counts, stages, times and
    amounts stay, so every metric is unchanged. Events that arrive later are stored
    redacted. In the same transaction audit says `person.erasure_requested`; ingest,
    the qualifier, the router and nurture each erase or anonymise the person in their
    own store (their outbox rows included), keep a tombstone so late events cannot bring
    the data back, and confirm with `<service>.erasure_completed`. Follow the progress
    with `GET /audit/v1/erasures/{id}`. Asking again re-sends the request under the
    same id. A later lead from the same person is a new lead: nothing that identifies
    them is kept (nurture keeps only a hash of the address on its suppression list).
    Events already on Kafka cannot be rewritten; they age out with the topics'
    retention."""
    async with unit.transaction() as tx:
        erased = await erasures.erase(tx, body.lead_id, principal.key_id)
    return ErasureOut.of(erased)


@routes.get("/erasures/{erasure_id}", response_model=ErasureOut)
async def erasure_progress(erasure_id: str, _: AdminKey, unit: Unit) -> ErasureOut:
    """An erasure's progress: which services have confirmed it (`confirmations`), which
    have not yet (`pending`), and whether it is `complete`. Takes the erasure's id (or
    the lead id)."""
    async with unit.read() as conn:
        progress = await erasures.progress(conn, erasure_id)
    if progress is None:
        raise Problem(404, f"There is no erasure {erasure_id!r}.")
    return ErasureOut.of(progress)


# --- Prospect Satisfaction audits -----------------------------------------------------
@routes.get("/audits", response_model=list[AuditOut])
async def list_audits(
    _: ManagerKey,
    unit: Unit,
    satisfaction_audits: Audits,
    status: Literal["open", "recorded"] | None = None,
    due: Annotated[bool, Query(description="Only audits due now")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """Prospect Satisfaction audits, soonest due first."""
    async with unit.read() as conn:
        found = await satisfaction_audits.list_audits(
            conn, status=status, due_by=unit.clock.now() if due else None, limit=limit
        )
    return [AuditOut.of(a) for a in found]


@routes.post("/audits", status_code=201, response_model=AuditOut)
async def open_audit(
    body: AuditOpen, _: ManagerKey, unit: Unit, satisfaction_audits: Audits
) -> AuditOut:
    """Open an audit of one lead beside those the sampling policy opens."""
    async with unit.transaction() as tx:
        audit = await satisfaction_audits.open_manual(tx, body.lead_id)
    return AuditOut.of(audit)


@routes.get("/audits/{audit_id}", response_model=AuditOut)
async def get_audit(
    audit_id: str, _: ManagerKey, unit: Unit, satisfaction_audits: Audits
) -> AuditOut:
    async with unit.read() as conn:
        audit = await satisfaction_audits.get(conn, audit_id)
    if audit is None:
        raise Problem(404, f"There is no audit with id {audit_id!r}.")
    return AuditOut.of(audit)


@routes.post("/audits/{audit_id}/outcome", response_model=AuditOut)
async def record_audit(
    audit_id: str,
    body: AuditOutcomeIn,
    principal: ManagerKey,
    unit: Unit,
    satisfaction_audits: Audits,
) -> AuditOut:
    """Record what the prospect said: contacted or not, how often, by whom, how soon,
    satisfaction 1-5, where they stand, a comment. Says `audit.recorded`."""
    async with unit.transaction() as tx:
        audit = await satisfaction_audits.record(tx, audit_id, body, principal.key_id)
    return AuditOut.of(audit)


# --- the forecast ---------------------------------------------------------------------
@routes.get("/forecast", response_model=ForecastOut)
async def forecast(
    _: ManagerKey,
    unit: Unit,
    forecast: TheForecast,
    first: FirstMonth = None,
    last: LastMonth = None,
) -> ForecastOut:
    """Forecast totals by expected close month (`from`/`to` filter those months), source,
    source class and rep, with the basis: the share of the average deal size a lead is
    worth and whether the average comes from closed-won deals yet."""
    first, last = months(first, last)
    async with unit.read() as conn:
        totals = await forecast.totals(conn, first, last)
    return ForecastOut.of(totals)


@routes.get("/forecast/leads", response_model=list[ForecastEntryOut])
async def forecast_leads(
    _: ManagerKey,
    unit: Unit,
    forecast: TheForecast,
    status: Literal["open", "won", "removed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[ForecastEntryOut]:
    async with unit.read() as conn:
        entries = await forecast.list_entries(conn, status=status, limit=limit)
    return [ForecastEntryOut.of(e) for e in entries]


@routes.post(
    "/forecast/leads/{lead_id}/removal-requests",
    status_code=201,
    response_model=RemovalRequestOut,
)
async def request_removal(
    lead_id: str,
    body: Reason,
    request: Request,
    principal: RepKey,
    unit: Unit,
    forecast: TheForecast,
) -> RemovalRequestOut:
    """Ask to take a lead off the forecast, with a reason. A rep asks for their own
    leads. Only a sales executive approves or denies."""
    async with unit.transaction() as tx:
        made = await forecast.request_removal(
            tx,
            lead_id,
            body.reason,
            principal.key_id,
            request.headers.get("traceparent"),
            rep_only=principal.is_rep_only,
            rep_id=principal.rep_id,
        )
    return RemovalRequestOut.of(made)


@routes.get("/forecast/removal-requests", response_model=list[RemovalRequestOut])
async def list_removal_requests(
    _: ManagerKey,
    unit: Unit,
    forecast: TheForecast,
    status: Literal["pending", "approved", "denied"] | None = None,
    lead_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[RemovalRequestOut]:
    async with unit.read() as conn:
        found = await forecast.list_removal_requests(
            conn, status=status, lead_id=lead_id, limit=limit
        )
    return [RemovalRequestOut.of(r) for r in found]


async def _decide(
    unit: UnitOfWork,
    forecast: Forecast,
    request_id: str,
    approve: bool,
    body: Reason,
    request: Request,
    key_id: str,
) -> RemovalRequestOut:
    async with unit.transaction() as tx:
        decided = await forecast.decide_removal(
            tx,
            request_id,
            approve=approve,
            reason=body.reason,
            decided_by=key_id,
            traceparent=request.headers.get("traceparent"),
        )
    return RemovalRequestOut.of(decided)


@routes.post("/forecast/removal-requests/{request_id}/approve", response_model=RemovalRequestOut)
async def approve_removal(
    request_id: str,
    body: Reason,
    request: Request,
    principal: RepKey,
    unit: Unit,
    forecast: TheForecast,
) -> RemovalRequestOut:
    """A sales executive approves: the lead leaves the forecast (`forecast.changed`,
    removed). Anyone else gets 403, managers and admins included."""
    return await _decide(unit, forecast, request_id, True, body, request, principal.key_id)


@routes.post("/forecast/removal-requests/{request_id}/deny", response_model=RemovalRequestOut)
async def deny_removal(
    request_id: str,
    body: Reason,
    request: Request,
    principal: RepKey,
    unit: Unit,
    forecast: TheForecast,
) -> RemovalRequestOut:
    """A sales executive denies: the lead stays on the forecast."""
    return await _decide(unit, forecast, request_id, False, body, request, principal.key_id)


# --- roles ----------------------------------------------------------------------------
@routes.post("/roles/sales-executive", status_code=201, response_model=RoleOut)
async def grant_sales_executive(body: RoleGrant, principal: AdminKey, unit: Unit) -> RoleOut:
    """Grant the sales-executive role (approving forecast removals) to a manager key."""
    async with unit.transaction() as tx:
        role = await roles.grant_sales_executive(tx, body.key_id, principal.key_id)
    return RoleOut.of(role)


@routes.get("/roles/sales-executive", response_model=list[RoleOut])
async def list_sales_executives(_: AdminKey, unit: Unit) -> list[RoleOut]:
    async with unit.read() as conn:
        return [RoleOut.of(r) for r in await roles.sales_executives(conn)]


@routes.delete("/roles/sales-executive/{key_id}", status_code=204)
async def revoke_sales_executive(key_id: str, principal: AdminKey, unit: Unit) -> None:
    async with unit.transaction() as tx:
        await roles.revoke_sales_executive(tx, key_id, principal.key_id)


# --- spend ----------------------------------------------------------------------------
@routes.put(
    "/spend/{source}/{period}",
    response_model=SpendOut,
    responses={201: {"model": SpendOut, "description": "Created"}},
)
async def put_spend(
    source: Annotated[str, path(SOURCE_NAME, "The source, as leads name it")],
    period: Annotated[str, path(PERIOD, "The month, YYYY-MM")],
    body: SpendIn,
    response: Response,
    principal: ManagerKey,
    unit: Unit,
    reports: TheReports,
    settings: TheSettings,
) -> SpendOut:
    """What was spent on a source in a month (replaces what was entered before)."""
    spend_currency(body.currency, settings.currency)
    async with unit.transaction() as tx:
        row, created = await reports.put_spend(
            tx,
            source=source,
            period=period,
            amount=body.amount,
            note=body.note,
            by=principal.key_id,
        )
    if created:
        response.status_code = 201
    return SpendOut.of(row)


@routes.get("/spend", response_model=list[SpendOut])
async def list_spend(
    _: ManagerKey, unit: Unit, reports: TheReports, first: FirstMonth = None, last: LastMonth = None
) -> list[SpendOut]:
    first, last = months(first, last)
    async with unit.read() as conn:
        return [SpendOut.of(r) for r in await reports.spend(conn, first, last)]


# --- metrics --------------------------------------------------------------------------
@routes.get("/metrics/{metric}", response_model=None)
async def metric(
    metric: Metric,
    _: ManagerKey,
    unit: Unit,
    reports: TheReports,
    by: Grouping = None,
    first: FirstMonth = None,
    last: LastMonth = None,
    interval: Literal["month", "week"] = "month",
    format: Literal["json", "csv"] | None = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """One metric, as JSON (`rows`, `total`, `warnings`) or CSV (`format=csv` or
    `Accept: text/csv`; the last row is the total).

    - funnel (by source_class | source): leads that reached raw, basic-qualified,
      sales-qualified, accepted, opportunity, won.
    - costs (by source | source_class): spend, leads, won, cost per lead, cost per
      closed sale.
    - follow-up (by source | source_class | rep): share of assigned leads touched at all
      and within the first-touch SLA.
    - time-to-first-touch (by source | source_class | rep): p50/p75/p90/p95 seconds.
    - sla (by rep): first-touch SLA compliance.
    - source-mix (per month or week): leads per source class, warning when one class
      gives more than LEADFARM_AUDIT_DOMINANCE_THRESHOLD of them.
    - lead-to-close (by source | source_class | rep): days from capture to a won close.
    - audits (by rep | source | source_class): what prospects said.

    `from`/`to` (YYYY-MM) select the leads captured in those months (and the spend
    entered for them)."""
    chosen = grouping(metric, by)
    first, last = months(first, last)
    async with unit.read() as conn:
        report = await reports.report(
            conn,
            metric,
            by=chosen,
            first=first,
            last=last,
            interval=interval,
            now=unit.clock.now(),
        )
    return report_response(
        report,
        metric,
        first,
        last,
        csv=format == "csv" or (format is None and "text/csv" in (accept or "")),
    )
