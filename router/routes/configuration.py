"""Pools and rules, their versions (history, as of a version, rollback), and the dry run."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response

from contracts.events import LeadProfile
from router.records import ConfigVersion, PoolRecord, RuleRecord
from router.routes.common import Id, changer
from router.routes.deps import Deps, RouterDeps
from router.schemas.dry_run import DryRunIn, DryRunOut
from router.schemas.pools import (
    PoolAsOf,
    PoolIn,
    PoolOut,
    PoolsAsOfOut,
    PoolsRollbackIn,
    PoolsRollbackOut,
    PoolVersionOut,
    RuleAsOf,
    RuleIn,
    RuleOut,
    RulesAsOfOut,
    RulesRollbackIn,
    RulesRollbackOut,
    RuleVersionOut,
)
from router.schemas.reps import ChangedBy
from router.sla import sla_of
from services.auth import ManagerKey
from services.db import Conn
from services.errors import Invalid

RULE_EXAMPLES: dict[str, Any] = {
    "named conditions": {
        "summary": "Named conditions: every one set must hold",
        "value": {"position": 20, "pool": "dach", "conditions": {"countries": ["DE", "AT"]}},
    },
    "a group": {
        "summary": "A group of tests on any lead field, form answers and UTM values",
        "value": {
            "position": 10,
            "pool": "enterprise",
            "conditions": {
                "all": [
                    {"field": "country", "op": "in", "value": ["DE", "AT", "CH"]},
                    {
                        "any": [
                            {"field": "utm.utm_source", "op": "equals", "value": "linkedin"},
                            {
                                "field": "answers.Team size",
                                "op": "greater_or_equal",
                                "value": 200,
                            },
                        ]
                    },
                ]
            },
        },
    },
}

WITHOUT_NULLS: dict[str, Any] = {"response_model_exclude_none": True}
"""Rules are answered without the conditions they do not set."""

Version = Annotated[int, Path(ge=1, description="A version of the rules and pools")]


def _rule_version(v: ConfigVersion) -> RuleVersionOut:
    return RuleVersionOut(
        version=v.version,
        rule_id=v.object_id,
        action=v.action,
        rule=None if v.state is None else RuleIn.model_validate(v.state),
        restored_from=v.restored_from,
        changed_by=ChangedBy.of(v.changed_by),
        changed_at=v.changed_at,
    )


def _pool_version(v: ConfigVersion) -> PoolVersionOut:
    return PoolVersionOut(
        version=v.version,
        pool_id=v.object_id,
        action=v.action,
        pool=None if v.state is None else PoolIn.model_validate(v.state),
        restored_from=v.restored_from,
        changed_by=ChangedBy.of(v.changed_by),
        changed_at=v.changed_at,
    )


routes = APIRouter()

# Their history comes first: `/rules/history` is not the rule `history`.


async def pools_out(deps: RouterDeps, conn: Conn, pools: list[PoolRecord]) -> list[PoolOut]:
    """Pools as answered: with the SLA in force and their last change."""
    last = await deps.configuration.last_changes(conn, "pool")
    return [PoolOut.of(p, sla_of(p, deps.router.settings), last.get(p.id)) for p in pools]


async def rules_out(deps: RouterDeps, conn: Conn, rules: list[RuleRecord]) -> list[RuleOut]:
    """Rules as answered: with their last change."""
    last = await deps.configuration.last_changes(conn, "rule")
    return [RuleOut.of(r, last.get(r.id)) for r in rules]


@routes.get("/rules/history", response_model=list[RuleVersionOut], **WITHOUT_NULLS)
async def rules_history(
    deps: Deps,
    _: ManagerKey,
    rule: Annotated[str | None, Query(max_length=100, description="One rule's")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RuleVersionOut]:
    """Every change of the rules, newest first: the version, the rule after it, who
    made it (the API key's id and name) and when."""
    async with deps.unit.read() as conn:
        changes = await deps.configuration.history(conn, "rule", rule, limit)
    return [_rule_version(c) for c in changes]


@routes.get("/rules/history/{version}", response_model=RulesAsOfOut, **WITHOUT_NULLS)
async def rules_as_of(deps: Deps, version: Version, _: ManagerKey) -> RulesAsOfOut:
    """The rules as they were right after a version, in the order they were tried."""
    async with deps.unit.read() as conn:
        then = await deps.configuration.as_of(conn, "rule", version)
    found = [RuleAsOf.model_validate({**(v.state or {}), "id": i}) for i, v in then.items()]
    return RulesAsOfOut(version=version, rules=sorted(found, key=lambda r: (r.position, r.id)))


@routes.post("/rules:rollback", response_model=RulesRollbackOut, **WITHOUT_NULLS)
async def rules_rollback(
    deps: Deps, body: RulesRollbackIn, principal: ManagerKey
) -> RulesRollbackOut:
    """Restore the rules (or one rule) as they were right after `version`. Each rule put
    back is a new version by your key; the next lead is routed by them."""
    async with deps.unit.transaction() as tx:
        changes = await deps.configuration.rollback(
            tx, "rule", body.version, changer(principal), body.rule
        )
        rules = await rules_out(deps, tx, await deps.configuration.rules(tx))
    return RulesRollbackOut(
        restored=body.version, changes=[_rule_version(c) for c in changes], rules=rules
    )


@routes.get("/pools/history", response_model=list[PoolVersionOut])
async def pools_history(
    deps: Deps,
    _: ManagerKey,
    pool: Annotated[str | None, Query(max_length=100, description="One pool's")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[PoolVersionOut]:
    """Every change of the pools, newest first: the version, the pool after it, who
    made it (the API key's id and name) and when."""
    async with deps.unit.read() as conn:
        changes = await deps.configuration.history(conn, "pool", pool, limit)
    return [_pool_version(c) for c in changes]


@routes.get("/pools/history/{version}", response_model=PoolsAsOfOut)
async def pools_as_of(deps: Deps, version: Version, _: ManagerKey) -> PoolsAsOfOut:
    """The pools as they were right after a version."""
    async with deps.unit.read() as conn:
        then = await deps.configuration.as_of(conn, "pool", version)
    return PoolsAsOfOut(
        version=version,
        pools=[
            PoolAsOf.model_validate({**(v.state or {}), "id": i}) for i, v in sorted(then.items())
        ],
    )


@routes.post("/pools:rollback", response_model=PoolsRollbackOut)
async def pools_rollback(
    deps: Deps, body: PoolsRollbackIn, principal: ManagerKey
) -> PoolsRollbackOut:
    """Restore the pools (or one pool) as they were right after `version`. Each pool
    put back is a new version by your key; the next lead is routed by them."""
    async with deps.unit.transaction() as tx:
        changes = await deps.configuration.rollback(
            tx, "pool", body.version, changer(principal), body.pool
        )
        pools = await pools_out(deps, tx, await deps.configuration.pools(tx))
    return PoolsRollbackOut(
        restored=body.version, changes=[_pool_version(c) for c in changes], pools=pools
    )


@routes.put(
    "/pools/{pool_id}",
    response_model=PoolOut,
    responses={201: {"model": PoolOut, "description": "Created"}},
)
async def put_pool(
    deps: Deps, pool_id: Id, body: PoolIn, response: Response, principal: ManagerKey
) -> PoolOut:
    """Create or replace a pool: its members (reps, teams; none = every rep), strategy,
    working-hours policy, territory and language matching, and SLA. Every change is a
    new version (`GET /router/v1/pools/history`)."""
    async with deps.unit.transaction() as tx:
        pool, created = await deps.configuration.put_pool(
            tx, pool_id, body.model_dump(mode="json"), changer(principal)
        )
        [out] = await pools_out(deps, tx, [pool])
    response.status_code = 201 if created else 200
    return out


@routes.get("/pools", response_model=list[PoolOut])
async def list_pools(deps: Deps, _: ManagerKey) -> list[PoolOut]:
    async with deps.unit.read() as conn:
        return await pools_out(deps, conn, await deps.configuration.pools(conn))


@routes.get("/pools/{pool_id}", response_model=PoolOut)
async def get_pool(deps: Deps, pool_id: Id, _: ManagerKey) -> PoolOut:
    async with deps.unit.read() as conn:
        pool = await deps.configuration.pool(conn, pool_id)
        [out] = await pools_out(deps, conn, [pool])
    return out


@routes.delete("/pools/{pool_id}", status_code=204)
async def delete_pool(deps: Deps, pool_id: Id, principal: ManagerKey) -> None:
    async with deps.unit.transaction() as tx:
        await deps.configuration.delete_pool(tx, pool_id, changer(principal))


@routes.put(
    "/rules/{rule_id}",
    response_model=RuleOut,
    responses={201: {"model": RuleOut, "description": "Created"}},
    **WITHOUT_NULLS,
)
async def put_rule(
    deps: Deps,
    rule_id: Id,
    body: Annotated[RuleIn, Body(openapi_examples=RULE_EXAMPLES)],
    response: Response,
    principal: ManagerKey,
) -> RuleOut:
    """Create or replace a rule. Rules are tried by position (then id); the first whose
    conditions hold chooses the pool. No match: the default pool. Conditions are named
    (`{"countries": ["DE"]}`) or a group of tests on any lead field
    (`{"all": [{"field": "utm.utm_source", "op": "equals", "value": "linkedin"}]}`).
    Every change is a new version (`GET /router/v1/rules/history`)."""
    async with deps.unit.transaction() as tx:
        rule, created = await deps.configuration.put_rule(
            tx, rule_id, body.model_dump(mode="json", exclude_none=True), changer(principal)
        )
        [out] = await rules_out(deps, tx, [rule])
    response.status_code = 201 if created else 200
    return out


@routes.get("/rules", response_model=list[RuleOut], **WITHOUT_NULLS)
async def list_rules(deps: Deps, _: ManagerKey) -> list[RuleOut]:
    """Every rule, in the order they are tried."""
    async with deps.unit.read() as conn:
        return await rules_out(deps, conn, await deps.configuration.rules(conn))


@routes.get("/rules/{rule_id}", response_model=RuleOut, **WITHOUT_NULLS)
async def get_rule(deps: Deps, rule_id: Id, _: ManagerKey) -> RuleOut:
    async with deps.unit.read() as conn:
        rule = await deps.configuration.rule(conn, rule_id)
        [out] = await rules_out(deps, conn, [rule])
    return out


@routes.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(deps: Deps, rule_id: Id, principal: ManagerKey) -> None:
    async with deps.unit.transaction() as tx:
        await deps.configuration.delete_rule(tx, rule_id, changer(principal))


@routes.post("/route:dry-run", response_model=DryRunOut)
async def dry_run(deps: Deps, body: DryRunIn, _: ManagerKey) -> DryRunOut:
    """Where would this lead go now, and why? Nothing is written or said."""
    async with deps.unit.read() as conn:
        if body.lead_id is not None:
            lead = await deps.router.lead_of(conn, body.lead_id)
            if lead is None:
                raise Invalid(
                    "lead_id", "unknown lead", f"The router has no lead {body.lead_id!r}."
                )
            profile, score = lead.profile, body.score if body.score is not None else lead.score
        else:
            assert body.lead is not None
            profile = LeadProfile.model_validate(body.lead.model_dump())
            score = body.score
        decision = await deps.router.decide(
            conn,
            await deps.router.begin(conn),
            profile,
            score,
            now=deps.unit.clock.now(),
            trigger="dry run",
        )
    pick = decision.pick
    return DryRunOut(
        outcome=pick.outcome,
        rep_id=pick.rep.id if pick.rep else None,
        pool=decision.pool.id,
        rule=decision.rule_id,
        strategy=pick.strategy,
        why=pick.why,
        first_touch_due_at=decision.first_touch_due_at,
        cadence_due_at=decision.cadence_due_at,
        held_until=pick.held_until,
        explanation=dict(decision.explanation),
    )
