"""The qualifier's HTTP API under /qualifier/v1: decisions, dry runs, the definitions and
the learned model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError

from qualifier.catalog import ActiveDefinitions
from qualifier.definitions import DEFAULT_FILE
from qualifier.rules import NurtureEngagement, Verdict
from qualifier.schemas import (
    ChangeOut,
    DecisionOut,
    DefinitionsChangedOut,
    DefinitionsJsonIn,
    DefinitionsOut,
    DefinitionsVersionOut,
    EvaluateIn,
    EvaluationOut,
    LiftOut,
    ModelOut,
    ReevaluationOut,
)
from qualifier.service import Qualifier, Reevaluation
from services.auth import ManagerKey
from services.binding import Binding
from services.db import UnitOfWork
from services.openapi import declared_body, schema_ref
from services.problems import Problem, field_error

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
JSON_TYPES = ("application/json",)

_SHIPPED = DEFAULT_FILE.read_text()
_PUT_BODY = declared_body(
    {
        "application/yaml": {"schema": {"type": "string"}, "example": _SHIPPED},
        "text/plain": {"schema": {"type": "string"}, "example": _SHIPPED},
        "application/json": {
            "schema": schema_ref(DefinitionsJsonIn),
            "example": {"yaml": _SHIPPED},
        },
    },
    description='The definitions as YAML text, or JSON {"yaml": "..."}. The examples are the '
    "shipped definitions (docs/qualification.md describes every key).",
    models=[DefinitionsJsonIn],
)

Reevaluate = Annotated[
    bool, Query(description="Also decide open (deferred) leads again under the new version")
]
IncludeDisqualified = Annotated[
    bool, Query(description="Re-evaluation also decides disqualified leads again")
]


@dataclass(frozen=True)
class QualifierDeps:
    """What the routes use: the qualifier's unit of work and its domain."""

    unit: UnitOfWork
    qualifier: Qualifier


bound = Binding[QualifierDeps]("qualifier")
Deps = Annotated[QualifierDeps, Depends(bound)]

routes = APIRouter()
"""The qualifier's routes; build_router puts them under /qualifier/v1 with what they use."""


def build_router(unit: UnitOfWork, qualifier: Qualifier) -> APIRouter:
    deps = QualifierDeps(unit, qualifier)
    router = APIRouter(prefix="/qualifier/v1", tags=["qualifier"], dependencies=[bound.to(deps)])
    router.include_router(routes)
    return router


# --- decisions ----------------------------------------------------------------------


@routes.get("/leads/{lead_id}/decision", response_model=DecisionOut)
async def get_decision(deps: Deps, lead_id: str, _: ManagerKey) -> DecisionOut:
    """The qualifier's latest decision on a lead: outcome, lifecycle, stage, term,
    score, the definition and model versions, and every criterion with its points."""
    async with deps.unit.read() as conn:
        decision = await deps.qualifier.decision(conn, lead_id)
    if decision is None:
        raise Problem(404, f"The qualifier has no decision for lead {lead_id!r} (yet).")
    return DecisionOut(
        **(_evaluation(decision.verdict).model_dump() | {"reason": decision.reason}),
        lead_id=decision.lead_id,
        trigger=decision.trigger,
        decided_at=decision.decided_at,
    )


@routes.post("/evaluate", response_model=EvaluationOut)
async def evaluate(deps: Deps, body: EvaluateIn, _: ManagerKey) -> EvaluationOut:
    """A dry run: the decision a lead would get now under the active definitions and
    model. Nothing is stored and no event is said."""
    engagement = (
        NurtureEngagement(body.engagement_score or 0.0, tuple(body.engagements))
        if body.engagement_score is not None or body.engagements
        else None
    )
    intent_age = deps.unit.clock.now() - body.intent_at if body.intent_at else None
    async with deps.unit.read() as conn:
        verdict = await deps.qualifier.evaluate(conn, body.profile(), engagement, intent_age)
    return _evaluation(verdict)


# --- definitions --------------------------------------------------------------------


@routes.get("/definitions", response_model=DefinitionsOut)
async def get_definitions(deps: Deps, _: ManagerKey) -> DefinitionsOut:
    """The active definitions: their YAML text, version, who changed them and when."""
    async with deps.unit.read() as conn:
        active = await deps.qualifier.catalog.active(conn)
    return _active(active)


@routes.put(
    "/definitions",
    response_model=DefinitionsChangedOut,
    openapi_extra=_PUT_BODY,
    responses={
        200: {"description": "The same text was already active; nothing changed"},
        201: {"description": "Stored as the new active version"},
        409: {"description": "The version is stored already with other content"},
        415: {"description": "Not YAML, text or JSON"},
        422: {"description": "The definitions do not validate; each error names its line"},
    },
)
async def put_definitions(
    deps: Deps,
    request: Request,
    response: Response,
    principal: ManagerKey,
    reevaluate: Reevaluate = False,
    include_disqualified: IncludeDisqualified = False,
) -> DefinitionsChangedOut:
    """Replace the active definitions. Send YAML (`application/yaml` or `text/plain`)
    or JSON `{"yaml": "..."}`. The text is validated (422 naming each line and
    problem), must carry a new `version`, and is kept with who changed it and when.
    With `?reevaluate=true` open leads are decided again under it (see
    `POST /definitions:reevaluate`)."""
    text = await _definitions_text(request)
    async with deps.unit.transaction() as tx:
        change = await deps.qualifier.change_definitions(tx, text, principal.key_id)
    response.status_code = 201 if change.changed else 200
    stored = change.stored
    out = DefinitionsChangedOut(
        seq=stored.seq,
        version=stored.version,
        description=stored.description,
        origin=stored.origin,
        changed_by=stored.changed_by,
        changed_at=stored.changed_at,
        active=True,
        yaml=stored.yaml,
        changed=change.changed,
    )
    if reevaluate:
        out.reevaluation = await _reevaluate(deps, request, include_disqualified)
    return out


@routes.get("/definitions/history", response_model=list[DefinitionsVersionOut])
async def definitions_history(deps: Deps, _: ManagerKey) -> list[DefinitionsVersionOut]:
    """Every version of the definitions, newest (the active one) first."""
    async with deps.unit.read() as conn:
        active = await deps.qualifier.catalog.active(conn)
        stored = await deps.qualifier.catalog.history(conn)
    out = [
        DefinitionsVersionOut(
            seq=s.seq,
            version=s.version,
            description=s.description,
            origin=s.origin,
            changed_by=s.changed_by,
            changed_at=s.changed_at,
            active=s.seq == active.seq,
        )
        for s in stored
    ]
    if active.seq is None:  # the start-up file, not stored until first used
        out.insert(0, DefinitionsVersionOut(**_active(active).model_dump(exclude={"yaml"})))
    return out


@routes.get("/definitions/history/{version}", response_model=DefinitionsOut)
async def definitions_version(deps: Deps, version: str, _: ManagerKey) -> DefinitionsOut:
    """One stored version of the definitions, with its YAML text."""
    async with deps.unit.read() as conn:
        active = await deps.qualifier.catalog.active(conn)
        stored = await deps.qualifier.catalog.version(conn, version)
    if stored is None:
        if active.seq is None and active.definitions.version == version:
            return _active(active)
        raise Problem(404, f"There is no definitions version {version!r}.")
    return DefinitionsOut(
        seq=stored.seq,
        version=stored.version,
        description=stored.description,
        origin=stored.origin,
        changed_by=stored.changed_by,
        changed_at=stored.changed_at,
        active=stored.seq == active.seq,
        yaml=stored.yaml,
    )


@routes.post("/definitions:reevaluate", response_model=ReevaluationOut)
async def reevaluate_open_leads(
    deps: Deps, request: Request, _: ManagerKey, include_disqualified: IncludeDisqualified = False
) -> ReevaluationOut:
    """Decide every stored lead whose last decision was deferred (not yet qualified;
    with `include_disqualified=true` disqualified ones too) again under the active
    definitions and model, and say the new decision of each lead whose outcome
    changed. Leads in batches, one transaction per batch."""
    return await _reevaluate(deps, request, include_disqualified)


async def _reevaluate(
    deps: QualifierDeps, request: Request, include_disqualified: bool
) -> ReevaluationOut:
    progress = Reevaluation()
    after = ""
    while True:
        async with deps.unit.transaction() as tx:
            more = await deps.qualifier.reevaluate_batch(
                tx,
                after=after,
                include_disqualified=include_disqualified,
                traceparent=request.headers.get("traceparent"),
                progress=progress,
            )
        if not more or progress.last_lead_id is None:
            break
        after = progress.last_lead_id
    if not progress.definition_version:
        async with deps.unit.read() as conn:
            progress.definition_version = (
                await deps.qualifier.catalog.active(conn)
            ).definitions.version
            progress.model_version = (await deps.qualifier.model(conn)).version
    return ReevaluationOut(
        definition_version=progress.definition_version,
        model_version=progress.model_version,
        evaluated=progress.evaluated,
        changed=progress.changed,
        outcomes=dict(progress.outcomes),
        changes=[ChangeOut(lead_id=i, before=b, after=a) for i, b, a in progress.changes],
    )


# --- the learned model --------------------------------------------------------------


@routes.get("/model", response_model=ModelOut)
async def get_model(
    deps: Deps,
    _: ManagerKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    attribute: Annotated[str | None, Query(max_length=32)] = None,
) -> ModelOut:
    """What closed opportunities taught the qualifier: how many outcomes it rests on,
    whether it is active, and the attribute values with the most lift (how much more
    often leads with that value win than leads overall)."""
    async with deps.unit.read() as conn:
        model = await deps.qualifier.model(conn)
    lifts = [x for x in model.lifts() if attribute is None or x.attribute == attribute]
    return ModelOut(
        version=model.version,
        active=model.active,
        outcomes=model.outcomes,
        wins=model.total.wins,
        losses=model.total.losses,
        min_outcomes=model.min_outcomes,
        weight=model.weight,
        attributes=[
            LiftOut(
                attribute=x.attribute,
                value=x.value,
                wins=x.wins,
                losses=x.losses,
                outcomes=x.outcomes,
                win_rate=x.win_rate,
                lift=x.lift,
            )
            for x in lifts[:limit]
        ],
    )


def _evaluation(verdict: Verdict) -> EvaluationOut:
    d = verdict.decision
    return EvaluationOut(
        outcome=verdict.outcome,
        reason=verdict.reason,
        disqualifiers=verdict.disqualifiers,
        lifecycle=d.lifecycle,
        stage=d.stage,
        term=d.term,
        score=d.score,
        rule_score=d.rule_score,
        win_probability=d.win_probability,
        definition_version=d.definition_version,
        model_version=d.model_version,
        reasons=d.reasons,
        criteria=d.criteria,
        intent_decay=d.intent_decay,
    )


def _active(active: ActiveDefinitions) -> DefinitionsOut:
    return DefinitionsOut(
        seq=active.seq,
        version=active.definitions.version,
        description=active.definitions.description,
        origin=active.origin,
        changed_by=active.changed_by,
        changed_at=active.changed_at,
        active=True,
        yaml=active.yaml,
    )


async def _definitions_text(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    if media in JSON_TYPES:
        try:
            return DefinitionsJsonIn.model_validate(orjson.loads(body)).yaml
        except orjson.JSONDecodeError as exc:
            raise Problem(400, f"The request body is not valid JSON: {exc}.") from exc
        except ValidationError as exc:
            errors = [
                field_error(".".join(str(p) for p in e["loc"]) or "body", e["msg"])
                for e in exc.errors()
            ]
            raise Problem(
                422,
                'Send the definitions as JSON {"yaml": "<the YAML text>"}.',
                errors=errors,
            ) from exc
    if media not in YAML_TYPES:
        raise Problem(
            415,
            "Send the definitions as YAML (application/yaml or text/plain) or as JSON "
            f'{{"yaml": "..."}} (application/json), not {media or "no content type"}.',
        )
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(400, "The definitions must be UTF-8 text.") from exc
