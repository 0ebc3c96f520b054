"""ingest's HTTP API under /ingest/v1: the generic lead API, provider webhooks, sources,
and the read side."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import ValidationError

from contracts.events import LeadProfile
from ingest import metrics, repository, service
from ingest.providers import PROVIDERS
from ingest.providers import get as get_provider
from ingest.providers.base import (
    BadPayload,
    Forbidden,
    RawLead,
    Reply,
    Source,
    Unauthorized,
    WebhookRequest,
    check_ids,
)
from ingest.ratelimit import RateLimiter, retry_after
from ingest.roundstore import RoundStore, Touches
from ingest.schemas import BatchIn, BatchItem, BatchOut, DeliveryOut, LeadAccepted, LeadIn, LeadOut
from ingest.settings import IngestSettings
from ingest.sources import (
    InvalidSource,
    SecretRetireIn,
    SecretRotateIn,
    SourceCatalog,
    SourceIn,
    SourceOut,
    masked,
    retired,
    rotated,
    to_source,
    unexpired,
)
from services.auth import AdminKey, IngestOrRepKey, ManagerKey, Principal
from services.db import Tx, UnitOfWork
from services.egress import PrivateAddress, check_public
from services.groupcommit import GroupCommitter
from services.openapi import declared_body, json_body, schema_ref
from services.problems import Problem, field_error

JSON_TYPES = ("application/json",)
PURGE_SIGNATURES_EVERY = timedelta(minutes=1)
"""How often a webhook also drops the expired records of signed deliveries (per process)."""

# The bodies below are read by hand (the raw bytes make the idempotency digest; each lead of a
# batch is checked on its own), so the document is told what they are.
LEAD_EXAMPLES: dict[str, Any] = {
    "a form fill": {
        "email": "dana@acme.example",
        "first_name": "Dana",
        "last_name": "Scully",
        "company": "Acme",
        "country": "DE",
        "timeframe_days": 30,
        "asked_to_be_contacted": True,
        "source": "website",
        "utm": {"utm_source": "google", "utm_campaign": "spring"},
    },
    "a phone number only": {"phone": "+49 30 1234567", "source": "trade-show"},
}
LEAD_BODY = json_body(
    LeadIn,
    description="The lead. Unknown fields are refused; an email or a phone is required.",
    examples=LEAD_EXAMPLES,
)
BATCH_BODY = declared_body(
    {
        "application/json": {
            "schema": schema_ref(BatchIn),
            "examples": {"two leads": {"value": {"leads": list(LEAD_EXAMPLES.values())}}},
        }
    },
    description="Up to 1,000 leads, each as for POST /ingest/v1/leads.",
    models=[BatchIn, LeadIn],
)


def build_router(
    unit: UnitOfWork,
    catalog: SourceCatalog,
    limiter: RateLimiter,
    unverified_limiter: RateLimiter,
    settings: IngestSettings,
    *,
    on_pending: Callable[[], None] = lambda: None,
) -> APIRouter:
    """`on_pending` is called after a commit that stored deliveries to fetch (it wakes the
    FetchWorker)."""
    router = APIRouter(prefix="/ingest/v1", tags=["ingest"])

    # The leads, their idempotency records and webhooks' deliveries are written in rounds
    # shared by concurrent requests; each round checks the sources' version once.
    async def prepare(tx: Tx, touched: Sequence[Touches]) -> RoundStore:
        await catalog.refresh(tx)
        return await RoundStore.load(tx, touched)

    committer = GroupCommitter(unit, prepare)
    purge = _Every(PURGE_SIGNATURES_EVERY)

    # --- the generic API ---------------------------------------------------------------

    @router.post("/leads", status_code=202, response_model=LeadAccepted, openapi_extra=LEAD_BODY)
    async def post_lead(
        request: Request,
        principal: IngestOrRepKey,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    ) -> Response:
        """Accept one lead (an email or a phone is required). Answers 202 once the lead is
        stored: it is never lost after that. The same person again is merged into their
        lead. With an `Idempotency-Key` header, a retried request gets the first answer.

        A rep key submits a lead the rep found (rep prospecting, a referral at the close).
        """
        body = await _json(request)
        key = f"{principal.key_id}:{idempotency_key}" if idempotency_key else None
        digest = hashlib.sha256(body).hexdigest()
        lead = _check_lead(orjson.loads(body), principal)
        if isinstance(lead, _Refusal) and key is None:  # nothing to read or write
            await lead.count(catalog)
            raise lead.problem()
        traceparent = request.headers.get("traceparent")

        async def store(round: RoundStore) -> tuple[int, dict[str, Any], service.Outcome | None]:
            if key is not None:
                seen = round.idempotent_response(key)
                if seen is not None:
                    if seen[0] != digest:
                        raise Problem(
                            422,
                            "This Idempotency-Key was used with a different body; use a new "
                            "key for a new lead.",
                            errors=[field_error("Idempotency-Key", "reused with another body")],
                        )
                    return seen[1], seen[2], None
            if isinstance(lead, _Refusal):
                return lead.status, lead.answer, None
            outcome = await lead.record(round, traceparent)
            answer = {"lead_id": outcome.lead_id, "status": outcome.status}
            if key is not None:
                round.remember_response(key, digest, 202, answer)
            return 202, answer, outcome

        touches = Touches() if isinstance(lead, _Refusal) else lead.touches()
        status, answer, outcome = await committer.run(
            store, dataclasses.replace(touches, idempotency_key=key)
        )
        if isinstance(lead, _Refusal):
            await lead.count(catalog)
            raise lead.problem()
        if outcome is not None:
            label = await catalog.metric_label(lead.profile.source)
            metrics.DELIVERIES.labels(label, outcome.status).inc()
        return _json_response(answer, status)

    @router.post("/leads:batch", response_model=BatchOut, openapi_extra=BATCH_BODY)
    async def post_batch(request: Request, principal: IngestOrRepKey) -> BatchOut:
        """Accept up to 1,000 leads; each gets its own result (202 or a problem)."""
        try:
            batch = BatchIn.model_validate_json(await _json(request))
        except ValidationError as exc:
            raise _invalid(exc, "") from exc
        leads = [_check_lead(item, principal) for item in batch.leads]
        traceparent = request.headers.get("traceparent")

        async def store(round: RoundStore) -> list[service.Outcome | None]:
            return [
                None if isinstance(lead, _Refusal) else await lead.record(round, traceparent)
                for lead in leads
            ]

        usable = [lead.touches() for lead in leads if not isinstance(lead, _Refusal)]
        touches = Touches(persons=tuple(p for t in usable for p in t.persons))
        outcomes = (
            await committer.run(store, touches)
            if any(not isinstance(lead, _Refusal) for lead in leads)
            else [None] * len(leads)
        )
        results: list[BatchItem] = []
        for index, (lead, outcome) in enumerate(zip(leads, outcomes, strict=True)):
            if isinstance(lead, _Refusal):
                await lead.count(catalog)
                results.append(BatchItem(index=index, status=lead.status, problem=lead.answer))
            elif outcome is not None:
                label = await catalog.metric_label(lead.profile.source)
                metrics.DELIVERIES.labels(label, outcome.status).inc()
                results.append(
                    BatchItem(
                        index=index, status=202, lead_id=outcome.lead_id, result=outcome.status
                    )
                )
        accepted = sum(1 for r in results if r.status == 202)
        return BatchOut(accepted=accepted, rejected=len(results) - accepted, results=results)

    def _check_lead(data: Any, principal: Principal) -> _Lead | _Refusal:
        """The lead normalised, or why it cannot be used (no database: before the round)."""
        try:
            body = LeadIn.model_validate(data)
        except ValidationError as exc:
            problem = _invalid(exc, "")
            return _Refusal(422, {"detail": problem.detail, "errors": problem.errors})
        rep_id = principal.rep_id if principal.scope == "rep" else None
        try:
            profile = service.profile_of(
                body,
                provider="api",
                default_class="rep_prospecting" if rep_id else "marketing",
                rep_id=rep_id,
            )
        except service.InvalidLead as exc:
            return _Refusal(
                422,
                {
                    "detail": f"The lead cannot be used: {exc}.",
                    "errors": [field_error(f, m) for f, m in exc.errors],
                },
                source=body.source,
            )
        return _Lead(profile, data)

    # --- provider webhooks -------------------------------------------------------------

    @router.get("/webhooks/{name}", include_in_schema=True)
    async def webhook_handshake(name: str, request: Request) -> Response:
        """The provider's verification request (Meta's hub.challenge, LinkedIn's
        challengeCode)."""
        source, provider = await _source(name, fresh=True)
        inbound = await _inbound(request, b"", unit.clock.now())
        try:
            reply = provider.handshake(inbound, source)
        except Forbidden as exc:
            raise Problem(403, f"The verification request was refused: {exc}.") from exc
        except BadPayload as exc:
            raise Problem(400, f"The verification request is malformed: {exc}.") from exc
        if reply is None:
            raise Problem(405, f"Provider {provider.name} has no verification request; POST leads.")
        return _reply(reply)

    @router.post(
        "/webhooks/{name}",
        response_class=Response,
        responses=WEBHOOK_ANSWERS,
        openapi_extra=webhook_body(),
    )
    async def webhook(name: str, request: Request) -> Response:
        """A provider's webhook. Authenticated the way the provider signs; acknowledged only
        once everything it carried is stored."""
        source, provider = await _source(name)
        media = _media_type(request)
        if media not in provider.content_types:
            metrics.REJECTIONS.labels(name, "content_type").inc()
            raise Problem(
                415,
                f"Provider {provider.name} posts {' or '.join(provider.content_types)}, "
                f"not {media or 'no content type'}.",
            )
        inbound = await _inbound(request, await request.body(), unit.clock.now())
        refusal = _refusal(provider, inbound, source)
        if refusal is not None:
            # Refused by the copy in memory: ask for the source as of now (a secret rotated
            # through another replica verifies at once).
            source, provider = await _source(name, fresh=True)
            refusal = _refusal(provider, inbound, source)
        # Verified first: the source's bucket is spent only by requests that proved to be
        # the provider, so nobody who merely knows the name can starve it. Refused requests
        # draw on a bucket of their own and are answered 429 when it is empty.
        if refusal is not None:
            exc = refusal
            failed_wait = unverified_limiter.take(name)
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
        wait = limiter.take(name)
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
        traceparent = request.headers.get("traceparent")
        guard = provider.replay_guard(inbound, source)
        verified_with = catalog.stored(name)
        inline = _usable(name, source, parsed.leads)
        touches = Touches(
            persons=tuple((p.email, p.phone) for _, p in inline),
            deliveries=tuple(
                (name, x)
                for x in [raw.external_id for raw, _ in inline]
                + [ref.external_id for ref in parsed.fetches]
                if x
            ),
            signature=(name, guard.signature) if guard is not None else None,
        )

        async def store(round: RoundStore) -> list[service.Outcome]:
            if catalog.stored(name) != verified_with:  # the round found the source changed
                raise _SourceChanged
            tx = round.tx
            outcomes: list[service.Outcome] = []
            if guard is not None and purge.due(tx.now()):
                await repository.purge_signatures(tx)
            # Recorded with what the delivery stored: a delivery that failed may be re-sent.
            if guard is not None and not round.remember_signature(
                name, guard.signature, inbound.received_at + timedelta(seconds=guard.window_s)
            ):
                raise _Refused(
                    "replayed",
                    Problem(
                        409,
                        f"The webhook was refused: this signed delivery ({guard.header}) was "
                        f"already received and stored; a copy is refused for {guard.window_s} "
                        "s. A provider's retry is signed anew and accepted.",
                    ),
                )
            for raw, profile in inline:
                outcomes.append(await service.accept_raw(round, raw, profile, traceparent))
            for ref in parsed.fetches:
                outcomes.append(service.accept_fetch(round, source, ref))
            for external_id in parsed.deletions:
                await service.erase_external(tx, source, external_id)
            return outcomes

        try:
            outcomes = await committer.run(store, touches)
        except _Refused as refused:
            metrics.REJECTIONS.labels(name, refused.reason).inc()
            raise refused.problem from refused
        except _SourceChanged:
            # Verified against a copy of the source older than the round's: once more with
            # the current one (the round reloaded it).
            if getattr(request.state, "source_changed", False):
                raise Problem(
                    503, f"Source {name!r} is being changed; send the webhook again."
                ) from None
            request.state.source_changed = True
            return await webhook(name, request)
        for outcome in outcomes:
            metrics.DELIVERIES.labels(name, outcome.status).inc()
        if any(outcome.status == "pending" for outcome in outcomes):
            on_pending()
        return _reply(provider.acknowledge(inbound, source, parsed))

    async def _source(name: str, *, fresh: bool = False) -> tuple[Any, Any]:
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

    # --- sources ----------------------------------------------------------------------

    @router.put(
        "/sources/{name}",
        response_model=SourceOut,
        responses={201: {"model": SourceOut, "description": "Created"}},
    )
    async def put_source(
        name: Annotated[str, _name_path()], body: SourceIn, response: Response, _: AdminKey
    ) -> SourceOut:
        """Create or replace a source. Secrets are stored and never shown again."""
        if name in catalog.from_env:
            raise Problem(
                409,
                f"Source {name!r} is defined in the environment "
                "(LEADFARM_INGEST_SOURCES); change it there.",
            )
        try:
            source = to_source(name, body)
        except InvalidSource as exc:
            raise Problem(
                422,
                f"The source is not valid: {exc}.",
                errors=[field_error(f, m) for f, m in exc.errors],
            ) from exc
        if body.api_base_url and not settings.allow_private_api_urls:
            try:
                await check_public(body.api_base_url)  # SSRF: an admin's URL, called later
            except PrivateAddress as exc:
                raise Problem(
                    422,
                    f"The source is not valid: api_base_url cannot be used: {exc}. Fetches go "
                    "to public addresses only; set LEADFARM_INGEST_ALLOW_PRIVATE_API_URLS=true "
                    "where ingest may call private ones (a local tool, a test).",
                    errors=[field_error("api_base_url", f"must reach a public address: {exc}")],
                ) from exc
        async with unit.transaction() as tx:
            stored = await repository.put_source(tx, source, catalog.box)
        catalog.remember(name)
        if stored.created_at == stored.updated_at:
            response.status_code = 201
        return masked(stored.source, "api", stored.created_at, stored.updated_at)

    @router.post("/sources/{name}/secret:rotate", response_model=SourceOut)
    async def rotate_secret(name: str, body: SecretRotateIn, _: AdminKey) -> SourceOut:
        """Give a secret a new value. The value it replaces keeps verifying for `overlap_s`
        seconds (default a day), so the provider can be switched over without losing a
        webhook; then it stops, or at once with `secret:retire`."""
        async with unit.transaction() as tx:
            stored = await _stored_source(tx, name, body.secret)
            until = {k: v for k, v in stored.previous_until.items() if k != body.secret}
            source = rotated(stored.source, body.secret, body.value)
            if len(source.secret_values(body.secret)) > 1 and body.overlap_s > 0:
                until[body.secret] = tx.now() + timedelta(seconds=body.overlap_s)
            else:
                source = retired(source, body.secret)
            stored = await repository.put_source(tx, source, catalog.box, until)
        return masked(stored.source, "api", stored.created_at, stored.updated_at, until)

    @router.post("/sources/{name}/secret:retire", response_model=SourceOut)
    async def retire_secret(name: str, body: SecretRetireIn, _: AdminKey) -> SourceOut:
        """Stop the previous value of a rotated secret verifying now."""
        async with unit.transaction() as tx:
            stored = await _stored_source(tx, name, body.secret)
            until = {k: v for k, v in stored.previous_until.items() if k != body.secret}
            source = retired(stored.source, body.secret)
            stored = await repository.put_source(tx, source, catalog.box, until)
        return masked(stored.source, "api", stored.created_at, stored.updated_at, until)

    async def _stored_source(tx: Tx, name: str, secret: str) -> repository.StoredSource:
        if name in catalog.from_env:
            raise Problem(
                409,
                f"Source {name!r} is defined in the environment "
                "(LEADFARM_INGEST_SOURCES); rotate its secret there.",
            )
        stored = await repository.get_source(tx, name, catalog.box)
        if stored is None:
            raise Problem(404, f"There is no source named {name!r}.")
        if not stored.source.secret_values(secret):
            names = ", ".join(sorted(stored.source.secrets)) or "none"
            raise Problem(
                422,
                f"Source {name!r} has no secret {secret!r} (its secrets: {names}).",
                errors=[field_error("secret", "not a secret of this source")],
            )
        return stored

    @router.get("/sources/{name}", response_model=SourceOut)
    async def get_source(name: str, _: AdminKey) -> SourceOut:
        if name in catalog.from_env:
            return masked(catalog.from_env[name], "environment")
        async with unit.read() as conn:
            stored = await repository.get_source(conn, name, catalog.box)
        if stored is None:
            raise Problem(404, f"There is no source named {name!r}.")
        current = unexpired(stored.source, stored.previous_until, unit.clock.now())
        return masked(current, "api", stored.created_at, stored.updated_at, stored.previous_until)

    @router.get("/sources", response_model=list[SourceOut])
    async def list_sources(_: AdminKey) -> list[SourceOut]:
        async with unit.read() as conn:
            stored = await repository.list_sources(conn, catalog.box)
        now = unit.clock.now()
        out = [masked(s, "environment") for s in catalog.from_env.values()]
        return out + [
            masked(
                unexpired(s.source, s.previous_until, now),
                "api",
                s.created_at,
                s.updated_at,
                s.previous_until,
            )
            for s in stored
            if s.source.name not in catalog.from_env
        ]

    # --- the read side ----------------------------------------------------------------

    @router.get("/leads/{lead_id}", response_model=LeadOut)
    async def get_lead(lead_id: str, _: ManagerKey) -> LeadOut:
        """The normalised lead with every delivery that made it."""
        async with unit.read() as conn:
            lead = await repository.get_lead(conn, lead_id)
        if lead is None:
            raise Problem(404, f"There is no lead with id {lead_id!r}.")
        return lead

    @router.get("/leads", response_model=list[LeadOut])
    async def find_leads(
        _: ManagerKey,
        email: str | None = None,
        phone: str | None = None,
        external_id: str | None = Query(None, max_length=255),
        limit: int = Query(50, ge=1, le=500),
    ) -> list[LeadOut]:
        """Find leads by email or phone (normalised as on intake) or provider lead id."""
        from ingest.normalise import emails, phones

        if not (email or phone or external_id):
            raise Problem(400, "Give at least one of email, phone or external_id.")
        async with unit.read() as conn:
            ids = await repository.search_leads(
                conn,
                email=emails.email(email).value if email else None,
                phone=phones.phone(phone, None)[0] if phone else None,
                external_id=external_id,
                limit=limit,
            )
            found = [await repository.get_lead(conn, i) for i in ids]
        return [lead for lead in found if lead is not None]

    @router.get("/deliveries", response_model=list[DeliveryOut])
    async def list_deliveries(
        _: ManagerKey,
        status: Annotated[
            str | None, Query(pattern="^(accepted|pending|failed|rejected|deleted)$")
        ] = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[DeliveryOut]:
        """Deliveries, newest first: pending fetches, failed ones (with the last error) and
        rejected ones (with the reason)."""
        async with unit.read() as conn:
            return await repository.list_deliveries(conn, status, limit)

    @router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut)
    async def retry_delivery(delivery_id: str, _: ManagerKey) -> DeliveryOut:
        """Try a failed fetch again now."""
        async with unit.transaction() as tx:
            rows = [
                d
                for d in await repository.list_deliveries(_read(tx), "failed", 10_000)
                if d.id == delivery_id
            ]
            if not rows:
                raise Problem(404, f"There is no failed delivery {delivery_id!r}.")
            await repository.set_delivery(
                tx, delivery_id, status="pending", attempts=0, next_attempt_at=tx.now(), reason=None
            )
        on_pending()
        return rows[0].model_copy(update={"status": "pending"})

    return router


WEBHOOK_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Stored (or nothing to store): acknowledged the way the provider expects",
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"status": {"type": "string"}}},
                "example": {"status": "ok"},
            },
            "text/html": {"schema": {"type": "string", "description": "form: a thank-you page"}},
        },
    },
    303: {"description": "form: stored; the browser goes on to the source's redirect_url"},
}


def webhook_body() -> dict[str, Any]:
    """The webhook's body in every provider's format (the source's provider decides which)."""
    examples: dict[str, dict[str, Any]] = {}
    lines = []
    for provider in PROVIDERS.values():
        summary = " ".join(
            (sys.modules[type(provider).__module__].__doc__ or "").split("\n\n")[0].split()
        )
        lines.append(
            f"- `{provider.name}` ({', '.join(provider.content_types)}): "
            f"{summary.removeprefix(f'`{provider.name}`: ')} See docs/sources/{provider.name}.md."
        )
        if provider.example is not None:
            examples.setdefault(provider.content_types[0], {})[provider.name] = {
                "summary": provider.name,
                "value": provider.example,
            }
    fields = {"type": "object", "additionalProperties": {"type": "string"}}
    schemas: dict[str, dict[str, Any]] = {
        # HubSpot's app webhooks post an array of events; documented as an object all the
        # same, since client generators cannot send a union of an array and an object.
        "application/json": {
            "type": "object",
            "additionalProperties": True,
            "description": "The provider's JSON (for hubspot's app webhooks, an array)",
        },
        "application/x-www-form-urlencoded": fields,
        "multipart/form-data": fields,
    }
    media_types = sorted({m for p in PROVIDERS.values() for m in p.content_types})
    body = declared_body(
        {
            media: {"schema": schemas[media]}
            | ({"examples": examples[media]} if media in examples else {})
            for media in media_types
        },
        description=(
            "The delivery exactly as the source's provider posts it, signed or authenticated "
            "the provider's way; another content type than the provider's is refused (415). "
            "The providers:\n\n" + "\n".join(lines)
        ),
    )
    token = {
        "name": "token",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "unbounce: the source's token (Unbounce neither signs nor sends a secret)",
    }
    return body | {"parameters": [token]}


@dataclass(frozen=True)
class _Lead:
    """A lead of the generic API, normalised (before the round), and as submitted."""

    profile: LeadProfile
    submitted: Any

    def touches(self) -> Touches:
        return service.touches(self.profile, None)

    async def record(self, round: RoundStore, traceparent: str | None) -> service.Outcome:
        return await service.record(
            round,
            self.profile,
            payload={"lead": self.submitted},  # as submitted: a merge keeps only the first values
            traceparent=traceparent,
        )


class _Refusal:
    """A lead of the generic API that cannot be used: its answer, and its metric."""

    def __init__(self, status: int, answer: dict[str, Any], source: str | None = None) -> None:
        self.status = status
        self.answer = answer
        self.source = source
        """The lead's source, when the lead was refused as unusable (counted)."""

    def problem(self) -> Problem:
        return Problem(self.status, self.answer["detail"], errors=self.answer.get("errors"))

    async def count(self, catalog: SourceCatalog) -> None:
        if self.source is not None:
            metrics.REJECTIONS.labels(await catalog.metric_label(self.source), "unusable").inc()


class _Refused(Exception):
    """A webhook refused inside its round (counted once the round is over: a work may run
    twice)."""

    def __init__(self, reason: str, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.reason = reason
        self.problem = problem


class _Every:
    """Due once per `interval` of the service's clock."""

    def __init__(self, interval: timedelta) -> None:
        self.interval = interval
        self._next: datetime | None = None

    def due(self, now: datetime) -> bool:
        if self._next is not None and now < self._next:
            return False
        self._next = now + self.interval
        return True


class _SourceChanged(Exception):
    """The round reloaded the sources after this webhook was verified."""


def _refusal(
    provider: Any, inbound: WebhookRequest, source: Source
) -> Unauthorized | Forbidden | BadPayload | None:
    """Why `provider.verify` refuses the webhook, or None when it verifies."""
    try:
        provider.verify(inbound, source)
    except (Unauthorized, Forbidden, BadPayload) as exc:
        return exc
    return None


def _read(tx: Tx) -> Any:
    return tx.conn  # a write transaction may read


def _name_path() -> Any:
    from fastapi import Path

    return Path(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$",
        description="lower-case letters, digits, '.', '_' or '-'",
    )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _usable(
    name: str, source: Source, raws: Sequence[RawLead]
) -> list[tuple[RawLead, LeadProfile]]:
    """Each lead a webhook carried, normalised; the webhook is refused as a whole (422,
    naming the field) when one cannot be used. Before its round: nothing was written."""
    usable: list[tuple[RawLead, LeadProfile]] = []
    for index, raw in enumerate(raws):
        try:
            usable.append((raw, service.profile_from_raw(raw, source)))
        except service.InvalidLead as exc:
            metrics.REJECTIONS.labels(name, "unusable").inc()
            prefix = f"leads.{index}." if len(raws) > 1 else ""
            raise Problem(
                422,
                f"The lead cannot be used: {exc}.",
                errors=[field_error(prefix + f, m) for f, m in exc.errors],
            ) from exc
    return usable


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


def _invalid(exc: ValidationError, prefix: str) -> Problem:
    errors = [
        field_error(prefix + (".".join(str(p) for p in e["loc"]) or "body"), e["msg"])
        for e in exc.errors()
    ]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return Problem(422, f"The request has invalid fields. {summary}", errors=errors)


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
