"""ingest's HTTP API under /ingest/v1: the generic lead API, provider webhooks and the read
side (the sources' routes are `ingest.sources_api`).

Routes only: each is a module function; what they share (the unit of work, the sources, the
rate limits, the group committer) is one `IngestApi`, built by `build_router` (called by
the composition root) and handed to them as the `Ingest` dependency. Checking a lead and
what each request writes in its group-commit round are in `ingest.intake`."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import ValidationError

from ingest import captured, deliveries, metrics, sources_api
from ingest.bodies import BATCH_BODY, LEAD_BODY, WEBHOOK_ANSWERS, webhook_body
from ingest.dependencies import Ingest, IngestApi, bound
from ingest.intake import (
    PURGE_ANSWERS_EVERY,
    PURGE_SIGNATURES_EVERY,
    Every,
    Refusal,
    RefusedInRound,
    SourceChanged,
    WebhookDelivery,
    check_lead,
    invalid,
    store_batch,
    store_lead,
    usable,
)
from ingest.providers import get as get_provider
from ingest.providers.base import (
    BadPayload,
    Forbidden,
    Reply,
    Source,
    Unauthorized,
    WebhookRequest,
    check_ids,
)
from ingest.ratelimit import RateLimiter, retry_after
from ingest.roundstore import RoundStore, Touches
from ingest.schemas import (
    BatchIn,
    BatchItem,
    BatchOut,
    DeliveryOut,
    LeadAccepted,
    LeadOut,
    delivery_out,
    lead_out,
)
from ingest.settings import IngestSettings
from ingest.sources import SourceCatalog
from services.auth import IngestOrRepKey, ManagerKey
from services.db import Tx, UnitOfWork
from services.directroutes import DirectRoute
from services.groupcommit import GroupCommitter
from services.problems import Problem

JSON_TYPES = ("application/json",)

routes = APIRouter(prefix="/ingest/v1", tags=["ingest"])
"""The leads', webhooks' and read side's routes; `build_router` binds them and the
sources' to one service's `IngestApi`."""


# --- the generic API ---------------------------------------------------------------


@routes.post("/leads", status_code=202, response_model=LeadAccepted, openapi_extra=LEAD_BODY)
async def post_lead(
    request: Request,
    principal: IngestOrRepKey,
    ingest: Ingest,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """Accept one lead (an email or a phone is required). Answers 202 once the lead is
    stored: it is never lost after that. The same person again is merged into their
    lead. With an `Idempotency-Key` header, a retried request gets the first answer, for
    24 hours (`LEADFARM_INGEST_IDEMPOTENCY_HOURS`); after that the key is free again.

    A rep key submits a lead the rep found (rep prospecting, a referral at the close).
    """
    body = await _json(request)
    key = f"{principal.key_id}:{idempotency_key}" if idempotency_key else None
    digest = hashlib.sha256(body).hexdigest()
    lead = check_lead(orjson.loads(body), principal)
    if isinstance(lead, Refusal) and key is None:  # nothing to read or write
        await lead.count(ingest.catalog)
        raise lead.problem()
    store = partial(
        store_lead,
        purge=ingest.purge_answers,
        lead=lead,
        key=key,
        digest=digest,
        traceparent=request.headers.get("traceparent"),
    )
    touches = Touches() if isinstance(lead, Refusal) else lead.touches()
    status, answer, outcome = await ingest.committer.run(
        store, dataclasses.replace(touches, idempotency_key=key)
    )
    if isinstance(lead, Refusal):
        await lead.count(ingest.catalog)
        raise lead.problem()
    if outcome is not None:
        label = await ingest.catalog.metric_label(lead.profile.source)
        metrics.DELIVERIES.labels(label, outcome.status).inc()
    return _json_response(answer, status)


@routes.post("/leads:batch", response_model=BatchOut, openapi_extra=BATCH_BODY)
async def post_batch(request: Request, principal: IngestOrRepKey, ingest: Ingest) -> BatchOut:
    """Accept up to 1,000 leads; each gets its own result (202 or a problem)."""
    try:
        batch = BatchIn.model_validate_json(await _json(request))
    except ValidationError as exc:
        raise invalid(exc, "") from exc
    leads = [check_lead(item, principal) for item in batch.leads]
    store = partial(store_batch, leads=leads, traceparent=request.headers.get("traceparent"))
    usable_ = [lead.touches() for lead in leads if not isinstance(lead, Refusal)]
    touches = Touches(persons=tuple(p for t in usable_ for p in t.persons))
    outcomes = (
        await ingest.committer.run(store, touches)
        if any(not isinstance(lead, Refusal) for lead in leads)
        else [None] * len(leads)
    )
    results: list[BatchItem] = []
    for index, (lead, outcome) in enumerate(zip(leads, outcomes, strict=True)):
        if isinstance(lead, Refusal):
            await lead.count(ingest.catalog)
            results.append(BatchItem(index=index, status=lead.status, problem=lead.answer))
        elif outcome is not None:
            label = await ingest.catalog.metric_label(lead.profile.source)
            metrics.DELIVERIES.labels(label, outcome.status).inc()
            results.append(
                BatchItem(index=index, status=202, lead_id=outcome.lead_id, result=outcome.status)
            )
    accepted = sum(1 for r in results if r.status == 202)
    return BatchOut(accepted=accepted, rejected=len(results) - accepted, results=results)


# --- provider webhooks -------------------------------------------------------------


@routes.get("/webhooks/{name}", include_in_schema=True)
async def webhook_handshake(name: str, request: Request, ingest: Ingest) -> Response:
    """The provider's verification request (Meta's hub.challenge, LinkedIn's
    challengeCode)."""
    source, provider = await _source(ingest.catalog, name, fresh=True)
    inbound = await _inbound(request, b"", ingest.unit.clock.now())
    try:
        reply = provider.handshake(inbound, source)
    except Forbidden as exc:
        raise Problem(403, f"The verification request was refused: {exc}.") from exc
    except BadPayload as exc:
        raise Problem(400, f"The verification request is malformed: {exc}.") from exc
    if reply is None:
        raise Problem(405, f"Provider {provider.name} has no verification request; POST leads.")
    return _reply(reply)


WEBHOOK_PATH = "/webhooks/{name}"


@routes.post(
    WEBHOOK_PATH,
    response_class=Response,
    responses=WEBHOOK_ANSWERS,
    openapi_extra=webhook_body(),
)
async def webhook(name: str, request: Request, ingest: Ingest) -> Response:
    """A provider's webhook. Authenticated the way the provider signs; acknowledged only
    once everything it carried is stored."""
    catalog = ingest.catalog
    source, provider = await _source(catalog, name)
    media = _media_type(request)
    if media not in provider.content_types:
        metrics.REJECTIONS.labels(name, "content_type").inc()
        raise Problem(
            415,
            f"Provider {provider.name} posts {' or '.join(provider.content_types)}, "
            f"not {media or 'no content type'}.",
        )
    inbound = await _inbound(request, await request.body(), ingest.unit.clock.now())
    refusal = _refusal(provider, inbound, source)
    if refusal is not None:
        # Refused by the copy in memory: ask for the source as of now (a secret rotated
        # through another replica verifies at once).
        source, provider = await _source(catalog, name, fresh=True)
        refusal = _refusal(provider, inbound, source)
    # Verified first: the source's bucket is spent only by requests that proved to be
    # the provider, so nobody who merely knows the name can starve it. Refused requests
    # draw on a bucket of their own and are answered 429 when it is empty.
    if refusal is not None:
        exc = refusal
        failed_wait = ingest.unverified_limiter.take(name)
        if failed_wait:
            metrics.REJECTIONS.labels(name, "unverified_rate_limited").inc()
            raise Problem(
                429,
                f"Too many refused requests for source {name!r}; retry after "
                f"{retry_after(failed_wait)} s.",
                headers={"Retry-After": retry_after(failed_wait)},
            ) from exc
        if isinstance(exc, Unauthorized):
            metrics.REJECTIONS.labels(name, "unauthorized").inc()
            raise Problem(401, f"The webhook was refused: {exc}.") from exc
        if isinstance(exc, Forbidden):
            metrics.REJECTIONS.labels(name, "forbidden").inc()
            raise Problem(403, f"The webhook was refused: {exc}.") from exc
        metrics.REJECTIONS.labels(name, "malformed").inc()
        raise Problem(400, f"The body is not a {provider.name} webhook: {exc}.") from exc
    wait = ingest.limiter.take(name)
    if wait:
        metrics.REJECTIONS.labels(name, "rate_limited").inc()
        raise Problem(
            429,
            f"Too many requests for source {name!r}; retry after {retry_after(wait)} s.",
            headers={"Retry-After": retry_after(wait)},
        )
    try:
        parsed = provider.parse(inbound, source)
        check_ids(parsed)
    except BadPayload as exc:
        metrics.REJECTIONS.labels(name, "malformed").inc()
        raise Problem(400, f"The body is not a {provider.name} webhook: {exc}.") from exc
    if parsed.honeypot:
        metrics.REJECTIONS.labels(name, "honeypot").inc()
        return _reply(provider.acknowledge(inbound, source, parsed))
    delivery = WebhookDelivery(
        name=name,
        source=source,
        inbound=inbound,
        parsed=parsed,
        inline=usable(name, source, parsed.leads),
        guard=provider.replay_guard(inbound, source),
        verified_with=catalog.stored(name),
        traceparent=request.headers.get("traceparent"),
    )
    store = partial(delivery.store, catalog=catalog, purge=ingest.purge)
    try:
        outcomes = await ingest.committer.run(store, delivery.touches())
    except RefusedInRound as refused:
        metrics.REJECTIONS.labels(name, refused.reason).inc()
        raise refused.problem from refused
    except SourceChanged:
        # Verified against a copy of the source older than the round's: once more with
        # the current one (the round reloaded it).
        if getattr(request.state, "source_changed", False):
            raise Problem(
                503, f"Source {name!r} is being changed; send the webhook again."
            ) from None
        request.state.source_changed = True
        return await webhook(name, request, ingest)
    for outcome in outcomes:
        metrics.DELIVERIES.labels(name, outcome.status).inc()
    if any(outcome.status == "pending" for outcome in outcomes):
        ingest.on_pending()
    return _reply(provider.acknowledge(inbound, source, parsed))


async def _source(catalog: SourceCatalog, name: str, *, fresh: bool = False) -> tuple[Any, Any]:
    """The source from memory, or as of now when `fresh` or not in memory (a source
    created or changed on another replica)."""
    source = None if fresh else catalog.cached(name)
    if source is None:
        source = await catalog.lookup(name)
    provider = get_provider(source.provider) if source else None
    if source is None or provider is None:
        metrics.REJECTIONS.labels("unknown", "unknown_source").inc()
        raise Problem(
            404,
            f"There is no source named {name!r}. Create it with PUT /ingest/v1/sources/{name}.",
        )
    return source, provider


# --- the read side ----------------------------------------------------------------


@routes.get("/leads/{lead_id}", response_model=LeadOut)
async def get_lead(lead_id: str, _: ManagerKey, ingest: Ingest) -> LeadOut:
    """The normalised lead with every delivery that made it."""
    async with ingest.unit.read() as conn:
        lead = await captured.get(conn, lead_id)
    if lead is None:
        raise Problem(404, f"There is no lead with id {lead_id!r}.")
    return lead_out(lead)


@routes.get("/leads", response_model=list[LeadOut])
async def find_leads(
    _: ManagerKey,
    ingest: Ingest,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = Query(None, max_length=255),
    limit: int = Query(50, ge=1, le=500),
) -> list[LeadOut]:
    """Find leads by email or phone (normalised as on intake) or provider lead id."""
    if not (email or phone or external_id):
        raise Problem(400, "Give at least one of email, phone or external_id.")
    async with ingest.unit.read() as conn:
        found = await captured.find(
            conn, email=email, phone=phone, external_id=external_id, limit=limit
        )
    return [lead_out(lead) for lead in found]


@routes.get("/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    _: ManagerKey,
    ingest: Ingest,
    status: Annotated[
        str | None, Query(pattern="^(accepted|pending|failed|rejected|deleted)$")
    ] = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[DeliveryOut]:
    """Deliveries, newest first: pending fetches, failed ones (with the last error) and
    rejected ones (with the reason)."""
    async with ingest.unit.read() as conn:
        return [delivery_out(d) for d in await deliveries.list_deliveries(conn, status, limit)]


@routes.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut)
async def retry_delivery(delivery_id: str, _: ManagerKey, ingest: Ingest) -> DeliveryOut:
    """Try a failed fetch again now."""
    async with ingest.unit.transaction() as tx:
        retried = await deliveries.retry(tx, delivery_id)
        if retried is None:
            raise Problem(404, f"There is no failed delivery {delivery_id!r}.")
    ingest.on_pending()
    return delivery_out(retried)


def build_router(
    unit: UnitOfWork,
    catalog: SourceCatalog,
    limiter: RateLimiter,
    unverified_limiter: RateLimiter,
    settings: IngestSettings,
    *,
    on_pending: Callable[[], None] = lambda: None,
) -> tuple[APIRouter, list[DirectRoute]]:
    """ingest's routes, each request handed this service's `IngestApi`, and the webhook's
    direct route (`direct_routes`). `on_pending` is called after a commit that stored
    deliveries to fetch (it wakes the FetchWorker)."""

    async def prepare(tx: Tx, touched: Sequence[Touches]) -> RoundStore:
        # On PostgreSQL it reads the versions too.
        store = await RoundStore.load(tx, touched, settings.idempotency_window)
        await catalog.refresh(tx)
        return store

    ingest = IngestApi(
        unit=unit,
        catalog=catalog,
        limiter=limiter,
        unverified_limiter=unverified_limiter,
        settings=settings,
        # Two rounds at once: the next takes its requests while the one before writes and
        # commits (on SQLite it waits for the write lock). docs/benchmarks.md, "Stop 28".
        committer=GroupCommitter(unit, prepare, in_flight=2),
        purge=Every(PURGE_SIGNATURES_EVERY),
        purge_answers=Every(PURGE_ANSWERS_EVERY),
        on_pending=on_pending,
    )
    router = APIRouter(dependencies=[bound.to(ingest)])
    router.include_router(routes)
    router.include_router(sources_api.routes)
    return router, direct_routes(ingest)


def direct_routes(ingest: IngestApi) -> list[DirectRoute]:
    """The providers' webhook, served ahead of FastAPI's routing with `ingest` bound
    (services/directroutes.py): every lead from a provider comes through it."""

    async def take(request: Request) -> Response:
        return await webhook(request.path_params["name"], request, ingest)

    return [DirectRoute(routes.prefix + WEBHOOK_PATH, take, methods=["POST"], name="webhook")]


def _refusal(
    provider: Any, inbound: WebhookRequest, source: Source
) -> Unauthorized | Forbidden | BadPayload | None:
    """Why `provider.verify` refuses the webhook, or None when it verifies."""
    try:
        provider.verify(inbound, source)
    except (Unauthorized, Forbidden, BadPayload) as exc:
        return exc
    return None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _json(request: Request) -> bytes:
    media = _media_type(request)
    if media not in JSON_TYPES and not media.endswith("+json"):
        raise Problem(415, f"Send the lead as application/json, not {media or 'no content type'}.")
    body = await request.body()
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, f"The request body is not valid JSON: {exc}.") from exc
    return body


async def _inbound(request: Request, body: bytes, received_at: datetime) -> WebhookRequest:
    return WebhookRequest(
        method=request.method,
        url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=body,
        content_type=_media_type(request),
        received_at=received_at,
    )


def _reply(reply: Reply) -> Response:
    return Response(
        reply.body,
        status_code=reply.status,
        media_type=reply.content_type,
        headers=dict(reply.headers),
    )


def _json_response(body: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
