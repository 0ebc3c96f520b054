"""nurture's HTTP API under /nurture/v1: the read side, tracks and templates (managers),
engagement, bounces and consent (machines and managers), the unsubscribe and tracked-link
endpoints (people, without logging in), inside-sales tasks and erasure."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from nurture import erasure
from nurture.definitions import TRACK_ID, TemplateDef, TrackBody, TrackDef
from nurture.schemas import (
    BounceIn,
    BounceResult,
    ConsentIn,
    ConsentResult,
    EngagementIn,
    EngagementResult,
    LeadNurtureOut,
    NurtureErasureIn,
    NurtureErasureOut,
    OneClickUnsubscribeIn,
    SuppressionIn,
    SuppressionOut,
    TaskCompleted,
    TaskCompleteIn,
    TaskOut,
    TemplateOut,
    TrackOut,
    TrackStatsOut,
)
from nurture.senders import Sender
from nurture.service import Nurture
from nurture.templates import template_errors
from services.auth import AdminKey, EngagementOrManagerKey, ManagerKey
from services.binding import Binding
from services.db import UnitOfWork
from services.openapi import declared_body, schema_ref
from services.problems import Problem, field_error

# Engagement and bounces come from machines (an ESP, the website, a webinar platform:
# engagement-scoped keys) or from people (manager keys). Not ingest keys: an engagement can
# recycle any lead and a bounce suppress any address, which is more than posting leads.


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head>"
        "<body style='font-family:sans-serif;max-width:36em;margin:3em auto'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _track_id(track_id: str) -> str:
    if not re.match(TRACK_ID, track_id):
        raise Problem(
            422,
            "A track or template id is lowercase letters, digits and '-', at most 100.",
            errors=[field_error("id", f"does not match {TRACK_ID}")],
        )
    return track_id


@dataclass(frozen=True)
class NurtureDeps:
    """What the routes use: nurture's unit of work, its domain and its email sender."""

    unit: UnitOfWork
    nurture: Nurture
    sender: Sender


bound = Binding[NurtureDeps]("nurture")
Deps = Annotated[NurtureDeps, Depends(bound)]

routes = APIRouter()
"""nurture's routes; build_router puts them under /nurture/v1 with what they use."""


def build_router(unit: UnitOfWork, nurture: Nurture, sender: Sender) -> APIRouter:
    deps = NurtureDeps(unit, nurture, sender)
    router = APIRouter(prefix="/nurture/v1", tags=["nurture"], dependencies=[bound.to(deps)])
    router.include_router(routes)
    return router


# --- read side --------------------------------------------------------------------


@routes.get("/leads/{lead_id}", response_model=LeadNurtureOut)
async def get_lead(deps: Deps, lead_id: str, _: ManagerKey) -> LeadNurtureOut:
    """The lead in nurture: its track, step and next touch, consent, engagement score
    and history, and its touches."""
    async with deps.unit.read() as conn:
        view = await deps.nurture.views.lead_view(conn, lead_id)
    if view is None:
        raise Problem(404, f"Lead {lead_id!r} is not in nurture.")
    return LeadNurtureOut.of(view)


@routes.get("/tracks/{track_id}/stats", response_model=TrackStatsOut)
async def track_stats(deps: Deps, track_id: str, _: ManagerKey) -> TrackStatsOut:
    """How a track does: enrolled, touched, engaged, recycled, and what became of its
    emails."""
    async with deps.unit.read() as conn:
        stats = await deps.nurture.views.track_stats(conn, track_id)
    if stats is None:
        raise Problem(404, f"There is no track {track_id!r}. GET /nurture/v1/tracks lists them.")
    return TrackStatsOut.of(stats)


# --- tracks and templates ---------------------------------------------------------


@routes.get("/tracks", response_model=list[TrackOut])
async def list_tracks(deps: Deps, _: ManagerKey) -> list[TrackOut]:
    """Every track in force, in the order they are tried (by priority, then this order)."""
    async with deps.unit.read() as conn:
        catalog = await deps.nurture.catalog.current(conn)
    return [
        TrackOut.of(
            t,
            catalog.track_origin[t.id],
            catalog.track_version[t.id],
            catalog.track_stored.get(t.id),
        )
        for t in catalog.ordered_tracks()
    ]


@routes.get("/tracks/{track_id}", response_model=TrackOut)
async def get_track(deps: Deps, track_id: str, _: ManagerKey) -> TrackOut:
    async with deps.unit.read() as conn:
        catalog = await deps.nurture.catalog.current(conn)
    track = catalog.tracks.get(track_id)
    if track is None:
        raise Problem(404, f"There is no track {track_id!r}.")
    return TrackOut.of(
        track,
        catalog.track_origin[track_id],
        catalog.track_version[track_id],
        catalog.track_stored.get(track_id),
    )


@routes.put(
    "/tracks/{track_id}",
    response_model=TrackOut,
    responses={201: {"model": TrackOut, "description": "Created"}},
)
async def put_track(
    deps: Deps, track_id: str, body: TrackBody, response: Response, principal: ManagerKey
) -> TrackOut:
    """Create a track, or replace one (a track of the file is overridden by id until the
    override is deleted). Enrolled leads continue at their step number on the new
    schedule; set `active: false` to stop new enrolments."""
    _track_id(track_id)
    track = TrackDef.model_validate({**body.model_dump(), "id": track_id})
    async with deps.unit.transaction() as tx:
        stored = await deps.nurture.catalog.put_track(
            tx, track, body.model_dump(mode="json"), (principal.key_id, principal.name)
        )
    if stored.version == 1:
        response.status_code = 201
    return TrackOut.of(track, "api", stored.version, stored)


@routes.delete("/tracks/{track_id}", status_code=204)
async def delete_track(deps: Deps, track_id: str, _: ManagerKey) -> None:
    """Delete a track put through the API (a file track it overrode is in force again)."""
    async with deps.unit.transaction() as tx:
        await deps.nurture.catalog.delete_track(tx, track_id)


@routes.get("/templates", response_model=list[TemplateOut])
async def list_templates(deps: Deps, _: ManagerKey) -> list[TemplateOut]:
    async with deps.unit.read() as conn:
        catalog = await deps.nurture.catalog.current(conn)
    return [
        TemplateOut(id=i, origin=catalog.template_origin[i], **t.model_dump())
        for i, t in sorted(catalog.templates.items())
    ]


@routes.get("/templates/{template_id}", response_model=TemplateOut)
async def get_template(deps: Deps, template_id: str, _: ManagerKey) -> TemplateOut:
    async with deps.unit.read() as conn:
        catalog = await deps.nurture.catalog.current(conn)
    template = catalog.templates.get(template_id)
    if template is None:
        raise Problem(404, f"There is no template {template_id!r}.")
    return TemplateOut(
        id=template_id, origin=catalog.template_origin[template_id], **template.model_dump()
    )


@routes.put(
    "/templates/{template_id}",
    response_model=TemplateOut,
    responses={201: {"model": TemplateOut, "description": "Created"}},
)
async def put_template(
    deps: Deps, template_id: str, body: TemplateDef, response: Response, principal: ManagerKey
) -> TemplateOut:
    """Create or replace an email template (Jinja2, sandboxed; HTML autoescaped). It is
    checked by rendering it for a sample lead."""
    _track_id(template_id)
    errors = template_errors(body)
    if errors:
        raise Problem(
            422,
            "The template does not compile or render; see errors.",
            errors=[field_error(part, message) for part, message in errors],
        )
    async with deps.unit.transaction() as tx:
        stored = await deps.nurture.catalog.put_template(
            tx, template_id, body.model_dump(mode="json"), (principal.key_id, principal.name)
        )
    if stored.version == 1:
        response.status_code = 201
    return TemplateOut(id=template_id, origin="api", **body.model_dump())


# --- engagement -------------------------------------------------------------------


@routes.post("/engagements", status_code=201, response_model=EngagementResult)
async def post_engagement(
    deps: Deps, body: EngagementIn, request: Request, response: Response, _: EngagementOrManagerKey
) -> EngagementResult:
    """Record an engagement (opened, clicked, replied, visited_key_page, filled_form,
    attended_webinar, hand_raise). A hand raise, or an engagement score that reaches the
    threshold, sends the lead back to the qualifier (`lead.recycled`) at once. The same
    `external_id` again answers 200 with the first engagement."""
    async with deps.unit.transaction() as tx:
        outcome = await deps.nurture.engagement.engage(
            tx,
            lead_id=body.lead_id,
            message_id=body.message_id,
            kind=body.type,
            at=body.at,
            hand_raise=body.hand_raise,
            timeframe_days=body.timeframe_days,
            url=body.url,
            detail=dict(body.detail) if body.detail else None,
            external_id=body.external_id,
            traceparent=request.headers.get("traceparent"),
        )
    if outcome.duplicate:
        response.status_code = 200
    return EngagementResult.of(outcome)


@routes.get("/r/{token}", include_in_schema=True)
async def follow_link(deps: Deps, token: str, request: Request) -> RedirectResponse:
    """A tracked link from an email: records the click and redirects to its target."""
    async with deps.unit.transaction() as tx:
        click = await deps.nurture.engagement.click(tx, token, request.headers.get("traceparent"))
    return RedirectResponse(click.url, status_code=302, headers={"Cache-Control": "no-store"})


# --- unsubscribe, bounces, consent, suppression -----------------------------------


@routes.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_page(
    deps: Deps, token: Annotated[str, Query(max_length=4096)]
) -> HTMLResponse:
    """The unsubscribe link's page: one button, no login. (A GET changes nothing, so a
    mail scanner that opens links cannot unsubscribe anyone.)"""
    async with deps.unit.read() as conn:
        valid = await deps.nurture.consent.check_unsubscribe(conn, token)
    if not valid:
        raise Problem(400, "This unsubscribe link is not valid (it may have been cut short).")
    action = html.escape(f"?token={token}", quote=True)
    return _page(
        "Unsubscribe",
        "<p>Stop all emails from us to this address?</p>"
        f"<form method='post' action='{action}'>"
        "<button type='submit' name='List-Unsubscribe' value='One-Click'>Unsubscribe</button>"
        "</form>",
    )


@routes.post(
    "/unsubscribe",
    response_class=HTMLResponse,
    openapi_extra=declared_body(
        {
            "application/x-www-form-urlencoded": {
                "schema": schema_ref(OneClickUnsubscribeIn),
                "example": {"List-Unsubscribe": "One-Click"},
            }
        },
        description="`List-Unsubscribe=One-Click` (RFC 8058); the token is in the URL.",
        models=[OneClickUnsubscribeIn],
        required=False,
    ),
)
async def unsubscribe(deps: Deps, token: Annotated[str, Query(max_length=4096)]) -> HTMLResponse:
    """Unsubscribe: the page's button, and one-click unsubscribe from the mail client
    (RFC 8058). Every later email to the address stops, including queued ones."""
    async with deps.unit.transaction() as tx:
        await deps.nurture.consent.unsubscribe(tx, token)
    return _page("You are unsubscribed", "<p>You will get no more emails from us.</p>")


@routes.post("/bounces", response_model=BounceResult)
async def post_bounce(deps: Deps, body: BounceIn, _: EngagementOrManagerKey) -> BounceResult:
    """A bounce or complaint from the email service provider: a hard bounce or a
    complaint suppresses the address; a soft bounce is noted on the email."""
    async with deps.unit.transaction() as tx:
        suppressed, cancelled = await deps.nurture.sending.bounce(
            tx, body.message_id, body.email, body.kind, body.detail
        )
    return BounceResult(suppressed=suppressed, cancelled=cancelled)


@routes.post("/consents", response_model=ConsentResult)
async def post_consent(deps: Deps, body: ConsentIn, _: ManagerKey) -> ConsentResult:
    """Record consent given (opt_in) or withdrawn elsewhere, with its evidence."""
    async with deps.unit.transaction() as tx:
        hashed, suppressed = await deps.nurture.consent.record(
            tx, body.email, body.basis, body.evidence
        )
    return ConsentResult(email_hash=hashed, basis=body.basis, suppressed=suppressed)


@routes.get("/suppressions", response_model=list[SuppressionOut])
async def list_suppressions(
    deps: Deps,
    _: ManagerKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> list[SuppressionOut]:
    """The suppression list, newest first. Addresses are kept only as SHA-256 hashes of
    the lower-cased address."""
    async with deps.unit.read() as conn:
        rows = await deps.nurture.consent.suppressions(conn, limit, offset)
    return [SuppressionOut.of(r) for r in rows]


@routes.post("/suppressions", status_code=201, response_model=SuppressionOut)
async def add_suppression(deps: Deps, body: SuppressionIn, _: ManagerKey) -> SuppressionOut:
    """Suppress an address by hand (it is kept as a hash)."""
    async with deps.unit.transaction() as tx:
        hashed = await deps.nurture.consent.suppress_address(tx, body.email, body.detail)
        row = await deps.nurture.consent.suppression(tx, hashed)
    assert row is not None
    return SuppressionOut.of(row)


@routes.delete("/suppressions/{email_hash}", status_code=204)
async def remove_suppression(deps: Deps, email_hash: str, _: ManagerKey) -> None:
    """Lift a suppression. Only do this with the person's fresh consent: record it with
    POST /nurture/v1/consents, which lifts an unsubscribe by itself."""
    async with deps.unit.transaction() as tx:
        removed = await deps.nurture.consent.unsuppress(tx, email_hash)
    if not removed:
        raise Problem(404, "That address hash is not on the suppression list.")


# --- tasks for inside sales -------------------------------------------------------


@routes.get("/tasks", response_model=list[TaskOut])
async def list_tasks(
    deps: Deps,
    _: ManagerKey,
    status: Annotated[str | None, Query(pattern="^(open|done|cancelled)$")] = "open",
    lead_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TaskOut]:
    """Inside sales's work list: the tracks' task steps, oldest first."""
    async with deps.unit.read() as conn:
        rows = await deps.nurture.tasks.work_list(conn, status, lead_id, limit)
    return [TaskOut.of(r) for r in rows]


@routes.post("/tasks/{task_id}/complete", response_model=TaskCompleted)
async def complete_task(
    deps: Deps, task_id: str, body: TaskCompleteIn, request: Request, _: ManagerKey
) -> TaskCompleted:
    """Close a task with its outcome. `hand_raise: true` (they asked to talk to sales)
    sends the lead back to the qualifier at once; `engagement` records what they did."""
    async with deps.unit.transaction() as tx:
        task, engaged = await deps.nurture.tasks.complete(
            tx,
            task_id,
            body.outcome,
            body.engagement,
            body.hand_raise,
            body.timeframe_days,
            request.headers.get("traceparent"),
        )
    return TaskCompleted(
        task=TaskOut.of(task), engagement=EngagementResult.of(engaged) if engaged else None
    )


# --- erasure ----------------------------------------------------------------------


@routes.post("/erasures", response_model=NurtureErasureOut)
async def erase(deps: Deps, body: NurtureErasureIn, _: AdminKey) -> NurtureErasureOut:
    """Erase a person from nurture (by lead id or email): every lead with that address,
    its enrolments, emails (and the outbox sender's files), tasks, engagements and
    consent records. The address stays suppressed as a hash, and each lead is
    tombstoned, so a late event cannot enrol them again. Idempotent."""
    async with deps.unit.transaction() as tx:
        outcome = await erasure.erase_here(tx, body.lead_id, body.email)
    await deps.sender.erase(outcome.message_ids)
    return NurtureErasureOut(
        lead_ids=outcome.lead_ids, erased=outcome.counts, suppressed=outcome.suppressed
    )
