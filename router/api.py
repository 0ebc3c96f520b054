"""The router's HTTP API under /router/v1.

Manager scope: reps, teams, accounts, pools, rules, the dry run, the queue, webhook
subscriptions. Rep scope: a rep's own leads (their queue, the assignment, activities,
accept, reject, opportunities) and their compliance; another rep's lead looks missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response

from contracts.events import LeadProfile
from router import repository, versions
from router.errors import Refused
from router.records import WORKING_STATUSES, Changer, ConfigVersion, LeadRecord, Subscription
from router.repository import Conn
from router.schemas import (
    ID_PATTERN,
    AccountIn,
    AccountOut,
    ActivityIn,
    ActivityOut,
    AssignIn,
    AssignmentOut,
    ChangedBy,
    CloseIn,
    ComplianceOut,
    DeliveryStatus,
    DryRunIn,
    DryRunOut,
    OpportunityIn,
    OpportunityOut,
    PoolAsOf,
    PoolIn,
    PoolOut,
    PoolsAsOfOut,
    PoolsRollbackIn,
    PoolsRollbackOut,
    PoolVersionOut,
    ReinstateIn,
    RejectIn,
    RejectOut,
    RepFields,
    RepIn,
    RepLeadOut,
    RepOut,
    RuleAsOf,
    RuleIn,
    RuleOut,
    RulesAsOfOut,
    RulesRollbackIn,
    RulesRollbackOut,
    RuleVersionOut,
    SubscriptionCreated,
    SubscriptionDeliveryOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    SuspendIn,
    TeamHolidayOut,
    TeamIn,
    TeamOut,
)
from router.service import Router
from router.sla import sla_of
from router.views import cadence_of
from services.auth import ManagerKey, Principal, RepKey
from services.crypto import SecretBox
from services.db import UnitOfWork
from services.egress import PrivateAddress, check_public
from services.problems import Problem, field_error
from services.standard_webhooks import new_secret

Id = Annotated[str, Path(min_length=1, max_length=100, pattern=ID_PATTERN)]
NOT_NULL: tuple[str, ...] = (
    *("name", "email", "time_zone", "working_hours", "languages", "territories"),
    *("weight", "out_of_office", "active", "crm_owner_ids"),
)


@contextmanager
def refusals() -> Iterator[None]:
    """A domain refusal becomes a problem (and rolls the transaction back)."""
    try:
        yield
    except Refused as exc:
        raise Problem(exc.status, exc.detail) from exc


def _invalid(field: str, message: str, detail: str) -> Problem:
    return Problem(422, detail, errors=[field_error(field, message)])


def _secret_hint(secret: str) -> str:
    return secret[:10] + "…"


def _subscription_out(s: Subscription, box: SecretBox) -> SubscriptionOut:
    return SubscriptionOut(
        id=s.id,
        url=s.url,
        events=s.event_types,
        rep_id=s.rep_id,
        description=s.description,
        active=s.active,
        secret_hint=_secret_hint(box.open(s.secret)),
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


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
RESERVED_IDS = frozenset({"history"})


def _not_reserved(object_id: str) -> None:
    if object_id in RESERVED_IDS:
        raise _invalid("id", "reserved", f"{object_id!r} names the history; choose another id.")


def _changer(principal: Principal) -> Changer:
    return Changer(principal.key_id, principal.name)


def _changed_by_columns(principal: Principal) -> dict[str, str | None]:
    """A rep's columns saying who changed it last."""
    return {"changed_by": principal.key_id, "changed_by_name": principal.name}


def _changed_by(version: ConfigVersion) -> ChangedBy:
    return ChangedBy(key_id=version.changed_by.key_id, name=version.changed_by.name)


def _last_change(version: ConfigVersion | None) -> dict[str, Any]:
    if version is None:
        return {}
    return {"version": version.version, "changed_by": _changed_by(version)}


def _rule_version(v: ConfigVersion) -> RuleVersionOut:
    return RuleVersionOut(
        version=v.version,
        rule_id=v.object_id,
        action=v.action,
        rule=None if v.state is None else RuleIn.model_validate(v.state),
        restored_from=v.restored_from,
        changed_by=_changed_by(v),
        changed_at=v.changed_at,
    )


def _pool_version(v: ConfigVersion) -> PoolVersionOut:
    return PoolVersionOut(
        version=v.version,
        pool_id=v.object_id,
        action=v.action,
        pool=None if v.state is None else PoolIn.model_validate(v.state),
        restored_from=v.restored_from,
        changed_by=_changed_by(v),
        changed_at=v.changed_at,
    )


async def _version_exists(conn: Conn, version: int) -> None:
    latest = await repository.versions.latest_config_version(conn)
    if version > latest:
        raise Problem(404, f"There is no version {version}; the latest is {latest}.")


def build_router(unit: UnitOfWork, router_: Router, box: SecretBox) -> APIRouter:
    router = APIRouter(prefix="/router/v1", tags=["router"])
    settings = router_.settings

    async def visible_lead(
        conn: Conn, lead_id: str, principal: Principal, *, lock: bool = False, found: bool = False
    ) -> LeadRecord:
        """A rep sees only leads assigned to them; others' leads look like missing ones.
        Readers that say `found` also show the rep who sourced the lead where it went (a
        pool may distribute rep-sourced leads). Writers `lock` the lead's row first, so the
        check holds until they commit (a timer may have just given the lead to someone
        else). Lock order everywhere: the routing lock, then the lead, then its assignment."""
        lead = await repository.leads.get_lead(conn, lead_id, for_update=lock)
        mine = lead is not None and (
            lead.rep_id == principal.rep_id
            or (
                found
                and principal.rep_id is not None
                and lead.profile.sourced_by_rep_id == principal.rep_id
            )
        )
        if lead is None or (principal.is_rep_only and not mine):
            raise Problem(404, f"There is no assigned lead {lead_id!r} visible to you.")
        return lead

    async def visible_rep(conn: Conn, rep_id: str, principal: Principal) -> RepOut:
        rep = await repository.reps.get_rep(conn, rep_id)
        if rep is None or (principal.is_rep_only and rep_id != principal.rep_id):
            raise Problem(404, f"There is no rep {rep_id!r} visible to you.")
        return rep

    async def check_team(conn: Conn, team_id: str | None) -> None:
        if team_id is not None and await repository.teams.get_team(conn, team_id) is None:
            raise _invalid(
                "team_id", "unknown team", f"There is no team {team_id!r}; create it first."
            )

    # --- reps ---------------------------------------------------------------------------

    @router.post("/reps", status_code=201, response_model=RepOut)
    async def create_rep(body: RepIn, principal: ManagerKey) -> RepOut:
        """Add a rep. The defaults make them eligible at once (UTC, Monday to Friday
        09:00-17:00, weight 1, no caps)."""
        rep_id = body.id or uuid.uuid4().hex[:12]
        async with unit.transaction() as tx:
            if await repository.reps.rep_exists(tx, rep_id):
                raise Problem(409, f"A rep with id {rep_id!r} exists already.")
            await check_team(tx, body.team_id)
            values = body.model_dump(mode="json", exclude={"id"})
            now = tx.now()
            rep = await repository.reps.insert_rep(
                tx,
                {
                    **values,
                    "id": rep_id,
                    "created_at": now,
                    "updated_at": now,
                    **_changed_by_columns(principal),
                },
            )
            if rep is None:  # created by a concurrent request since rep_exists looked
                raise Problem(409, f"A rep with id {rep_id!r} exists already.")
            return rep

    @router.get("/reps", response_model=list[RepOut])
    async def list_reps(_: ManagerKey) -> list[RepOut]:
        async with unit.read() as conn:
            return await repository.reps.list_reps(conn)

    @router.get("/reps/{rep_id}", response_model=RepOut)
    async def get_rep(rep_id: Id, principal: RepKey) -> RepOut:
        async with unit.read() as conn:
            return await visible_rep(conn, rep_id, principal)

    @router.patch("/reps/{rep_id}", response_model=RepOut)
    async def update_rep(rep_id: Id, body: RepFields, principal: ManagerKey) -> RepOut:
        """Change a rep: calendar, languages, territories, weight, caps, out of office,
        team, active. Fields left out stay as they are; `null` clears a cap or the team.
        The rep records who changed them (`changed_by`) and when (`updated_at`)."""
        changes = body.model_dump(mode="json", exclude_unset=True)
        nulls = [f for f in NOT_NULL if f in changes and changes[f] is None]
        if nulls:
            raise Problem(
                422,
                f"{', '.join(nulls)} cannot be null.",
                errors=[field_error(f, "cannot be null") for f in nulls],
            )
        async with unit.transaction() as tx:
            if await repository.reps.get_rep(tx, rep_id) is None:
                raise Problem(404, f"There is no rep {rep_id!r}.")
            await check_team(tx, changes.get("team_id"))
            if changes:
                await repository.reps.update_rep(
                    tx,
                    rep_id,
                    {**changes, "updated_at": tx.now(), **_changed_by_columns(principal)},
                )
            rep = await repository.reps.get_rep(tx, rep_id)
        assert rep is not None
        return rep

    @router.post("/reps/{rep_id}/reinstate", response_model=RepOut)
    async def reinstate_rep(
        rep_id: Id, principal: ManagerKey, body: ReinstateIn | None = None
    ) -> RepOut:
        """Put a suspended rep back in the distribution (`rep.reinstated`). Their compliance
        is judged afresh from now on."""
        async with unit.transaction() as tx:
            rep = await repository.reps.get_rep(tx, rep_id)
            if rep is None:
                raise Problem(404, f"There is no rep {rep_id!r}.")
            with refusals():
                await router_.reinstate(tx, rep, body.reason if body else None, _changer(principal))
            rep = await repository.reps.get_rep(tx, rep_id)
        assert rep is not None
        return rep

    @router.post("/reps/{rep_id}/suspend", response_model=RepOut)
    async def suspend_rep(rep_id: Id, body: SuspendIn, principal: ManagerKey) -> RepOut:
        """Take a rep out of the distribution by hand, with a reason (`rep.suspended`, as
        when the router suspends them for SLA compliance, with `by` your key). They get no
        new leads until reinstated; their open leads stay theirs."""
        async with unit.transaction() as tx:
            rep = await repository.reps.get_rep(tx, rep_id)
            if rep is None:
                raise Problem(404, f"There is no rep {rep_id!r}.")
            with refusals():
                await router_.suspend(tx, rep, body.reason, _changer(principal))
            rep = await repository.reps.get_rep(tx, rep_id)
        assert rep is not None
        return rep

    @router.get("/reps/{rep_id}/leads", response_model=list[RepLeadOut])
    async def rep_leads(
        rep_id: Id,
        principal: RepKey,
        status: Annotated[
            Literal["open", "all", "assigned", "accepted", "opportunity", "won", "lost"],
            Query(description="open: assigned, accepted or with an open opportunity"),
        ] = "open",
    ) -> list[RepLeadOut]:
        """A rep's own queue, most recently changed first."""
        async with unit.read() as conn:
            await visible_rep(conn, rep_id, principal)
            statuses: tuple[str, ...] | None = (
                WORKING_STATUSES if status == "open" else None if status == "all" else (status,)
            )
            found = await repository.leads.leads_of_rep(conn, rep_id, statuses)
            current = await repository.assignments.assignments_by_id(
                conn, [lead.assignment_id for lead in found if lead.assignment_id]
            )
        out = []
        for lead in found:
            a = current.get(lead.assignment_id or "")
            out.append(
                RepLeadOut(
                    lead_id=lead.lead_id,
                    status=lead.status,  # type: ignore[arg-type]
                    assignment_id=lead.assignment_id,
                    assigned_at=a.assigned_at if a else None,
                    first_touch_due_at=a.first_touch_due_at if a else None,
                    touched_at=a.touched_at if a else None,
                    first_touch=a.first_touch if a else None,  # type: ignore[arg-type]
                    cadence_due_at=a.cadence_due_at if a else None,
                    cadence=cadence_of(a).status if a else None,
                    score=lead.score,
                    lead=lead.profile,
                )
            )
        return out

    @router.get("/reps/{rep_id}/compliance", response_model=ComplianceOut)
    async def rep_compliance(rep_id: Id, principal: RepKey) -> ComplianceOut:
        """The share of the rep's SLA obligations met over the rolling window: first touches
        within deadline, and cadences completed (connected, or every attempt made)."""
        async with unit.read() as conn:
            rep = await visible_rep(conn, rep_id, principal)
            return await router_.compliance(conn, rep, unit.clock.now())

    # --- teams and accounts ------------------------------------------------------------------

    @router.put(
        "/teams/{team_id}",
        response_model=TeamOut,
        responses={201: {"model": TeamOut, "description": "Created"}},
    )
    async def put_team(team_id: Id, body: TeamIn, response: Response, _: ManagerKey) -> TeamOut:
        """Create or replace a team and its days off: the public holidays of its `country`
        (and `subdivision`) less its `worked_holidays`, plus its own `holidays`."""
        async with unit.transaction() as tx:
            created = await repository.teams.get_team(tx, team_id) is None
            await repository.teams.upsert_team(tx, team_id, body)
            team = await repository.teams.get_team(tx, team_id)
        response.status_code = 201 if created else 200
        assert team is not None
        return team

    @router.get("/teams", response_model=list[TeamOut])
    async def list_teams(_: ManagerKey) -> list[TeamOut]:
        async with unit.read() as conn:
            return await repository.teams.list_teams(conn)

    @router.get("/teams/{team_id}", response_model=TeamOut)
    async def get_team(team_id: Id, _: ManagerKey) -> TeamOut:
        async with unit.read() as conn:
            team = await repository.teams.get_team(conn, team_id)
        if team is None:
            raise Problem(404, f"There is no team {team_id!r}.")
        return team

    @router.get("/teams/{team_id}/holidays", response_model=list[TeamHolidayOut])
    async def team_holidays(
        team_id: Id,
        _: ManagerKey,
        year: Annotated[
            int | None, Query(ge=1900, le=2200, description="Calendar year (default: this one)")
        ] = None,
    ) -> list[TeamHolidayOut]:
        """The team's days off in `year`, public and its own, as routing sees them."""
        year = year or unit.clock.now().year
        async with unit.read() as conn:
            team = await repository.teams.get_team(conn, team_id)
        if team is None:
            raise Problem(404, f"There is no team {team_id!r}.")
        days = team.days_off().between(date(year, 1, 1), date(year, 12, 31))
        return [TeamHolidayOut(date=d, name=name, source=source) for d, name, source in days]

    @router.delete("/teams/{team_id}", status_code=204)
    async def delete_team(team_id: Id, _: ManagerKey) -> None:
        async with unit.transaction() as tx:
            members = [r.id for r in await repository.reps.reps_where(tx, team_ids=[team_id])]
            if members:
                raise Problem(409, f"Team {team_id!r} still has reps: {', '.join(members)}.")
            if not await repository.teams.delete_team(tx, team_id):
                raise Problem(404, f"There is no team {team_id!r}.")

    @router.put("/accounts/{domain}", response_model=AccountOut)
    async def put_account(domain: str, body: AccountIn, _: ManagerKey) -> AccountOut:
        """Give a company's domain an owner rep (`account_owner_first` pools route to them)."""
        domain = domain.strip().lower().removeprefix("www.")
        async with unit.transaction() as tx:
            if not await repository.reps.rep_exists(tx, body.rep_id):
                raise _invalid("rep_id", "unknown rep", f"There is no rep {body.rep_id!r}.")
            await repository.accounts.upsert_account(tx, domain, body.rep_id)
            account = await repository.accounts.get_account(tx, domain)
        return AccountOut.model_validate(account)

    @router.get("/accounts", response_model=list[AccountOut])
    async def list_accounts(_: ManagerKey) -> list[AccountOut]:
        async with unit.read() as conn:
            return [
                AccountOut.model_validate(a) for a in await repository.accounts.list_accounts(conn)
            ]

    @router.delete("/accounts/{domain}", status_code=204)
    async def delete_account(domain: str, _: ManagerKey) -> None:
        async with unit.transaction() as tx:
            if not await repository.accounts.delete_account(tx, domain.strip().lower()):
                raise Problem(404, f"There is no account {domain!r}.")

    # --- pools and rules -----------------------------------------------------------------
    # Their history comes first: `/rules/history` is not the rule `history`.

    async def pools_out(conn: Conn, pools: list[PoolOut]) -> list[PoolOut]:
        """Pools as answered: with the SLA in force and their last change."""
        last = await repository.versions.config_as_of(conn, "pool")
        return [
            p.model_copy(
                update={
                    "effective_sla": sla_of(p, router_.settings),
                    **_last_change(last.get(p.id)),
                }
            )
            for p in pools
        ]

    async def rules_out(conn: Conn, rules: list[RuleOut]) -> list[RuleOut]:
        """Rules as answered: with their last change."""
        last = await repository.versions.config_as_of(conn, "rule")
        return [r.model_copy(update=_last_change(last.get(r.id))) for r in rules]

    @router.get("/rules/history", response_model=list[RuleVersionOut], **WITHOUT_NULLS)
    async def rules_history(
        _: ManagerKey,
        rule: Annotated[str | None, Query(max_length=100, description="One rule's")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[RuleVersionOut]:
        """Every change of the rules, newest first: the version, the rule after it, who
        made it (the API key's id and name) and when."""
        async with unit.read() as conn:
            changes = await repository.versions.config_history(conn, "rule", rule, limit)
        return [_rule_version(c) for c in changes]

    @router.get("/rules/history/{version}", response_model=RulesAsOfOut, **WITHOUT_NULLS)
    async def rules_as_of(version: Version, _: ManagerKey) -> RulesAsOfOut:
        """The rules as they were right after a version, in the order they were tried."""
        async with unit.read() as conn:
            await _version_exists(conn, version)
            then = await repository.versions.config_as_of(conn, "rule", version)
        found = [RuleAsOf.model_validate({**(v.state or {}), "id": i}) for i, v in then.items()]
        return RulesAsOfOut(version=version, rules=sorted(found, key=lambda r: (r.position, r.id)))

    @router.post("/rules:rollback", response_model=RulesRollbackOut, **WITHOUT_NULLS)
    async def rules_rollback(body: RulesRollbackIn, principal: ManagerKey) -> RulesRollbackOut:
        """Restore the rules (or one rule) as they were right after `version`. Each rule put
        back is a new version by your key; the next lead is routed by them."""
        async with unit.transaction() as tx:
            with refusals():
                changes = await versions.rollback(
                    tx,
                    "rule",
                    body.version,
                    _changer(principal),
                    default_pool=settings.default_pool,
                    only=body.rule,
                )
            rules = await rules_out(tx, await repository.rules.list_rules(tx))
        return RulesRollbackOut(
            restored=body.version, changes=[_rule_version(c) for c in changes], rules=rules
        )

    @router.get("/pools/history", response_model=list[PoolVersionOut])
    async def pools_history(
        _: ManagerKey,
        pool: Annotated[str | None, Query(max_length=100, description="One pool's")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[PoolVersionOut]:
        """Every change of the pools, newest first: the version, the pool after it, who
        made it (the API key's id and name) and when."""
        async with unit.read() as conn:
            changes = await repository.versions.config_history(conn, "pool", pool, limit)
        return [_pool_version(c) for c in changes]

    @router.get("/pools/history/{version}", response_model=PoolsAsOfOut)
    async def pools_as_of(version: Version, _: ManagerKey) -> PoolsAsOfOut:
        """The pools as they were right after a version."""
        async with unit.read() as conn:
            await _version_exists(conn, version)
            then = await repository.versions.config_as_of(conn, "pool", version)
        return PoolsAsOfOut(
            version=version,
            pools=[
                PoolAsOf.model_validate({**(v.state or {}), "id": i})
                for i, v in sorted(then.items())
            ],
        )

    @router.post("/pools:rollback", response_model=PoolsRollbackOut)
    async def pools_rollback(body: PoolsRollbackIn, principal: ManagerKey) -> PoolsRollbackOut:
        """Restore the pools (or one pool) as they were right after `version`. Each pool
        put back is a new version by your key; the next lead is routed by them."""
        async with unit.transaction() as tx:
            with refusals():
                changes = await versions.rollback(
                    tx,
                    "pool",
                    body.version,
                    _changer(principal),
                    default_pool=settings.default_pool,
                    only=body.pool,
                )
            pools = await pools_out(tx, await repository.pools.list_pools(tx))
        return PoolsRollbackOut(
            restored=body.version, changes=[_pool_version(c) for c in changes], pools=pools
        )

    @router.put(
        "/pools/{pool_id}",
        response_model=PoolOut,
        responses={201: {"model": PoolOut, "description": "Created"}},
    )
    async def put_pool(
        pool_id: Id, body: PoolIn, response: Response, principal: ManagerKey
    ) -> PoolOut:
        """Create or replace a pool: its members (reps, teams; none = every rep), strategy,
        working-hours policy, territory and language matching, and SLA. Every change is a
        new version (`GET /router/v1/pools/history`)."""
        _not_reserved(pool_id)
        async with unit.transaction() as tx:
            known = {r.id for r in await repository.reps.reps_where(tx, ids=body.members)}
            unknown = [m for m in body.members if m not in known]
            if unknown:
                raise _invalid("members", "unknown reps", f"Unknown reps: {', '.join(unknown)}.")
            for index, team in enumerate(body.teams):
                if await repository.teams.get_team(tx, team) is None:
                    raise _invalid(f"teams.{index}", "unknown team", f"There is no team {team!r}.")
            created = await repository.pools.get_pool(tx, pool_id) is None
            values = body.model_dump(mode="json")
            values["name"] = body.name or pool_id
            await repository.pools.upsert_pool(tx, pool_id, values, by=_changer(principal))
            pool = await repository.pools.get_pool(tx, pool_id)
            assert pool is not None
            [out] = await pools_out(tx, [pool])
        response.status_code = 201 if created else 200
        return out

    @router.get("/pools", response_model=list[PoolOut])
    async def list_pools(_: ManagerKey) -> list[PoolOut]:
        async with unit.read() as conn:
            return await pools_out(conn, await repository.pools.list_pools(conn))

    @router.get("/pools/{pool_id}", response_model=PoolOut)
    async def get_pool(pool_id: Id, _: ManagerKey) -> PoolOut:
        async with unit.read() as conn:
            pool = await repository.pools.get_pool(conn, pool_id)
            if pool is None:
                raise Problem(404, f"There is no pool {pool_id!r}.")
            [out] = await pools_out(conn, [pool])
        return out

    @router.delete("/pools/{pool_id}", status_code=204)
    async def delete_pool(pool_id: Id, principal: ManagerKey) -> None:
        if pool_id == settings.default_pool:
            raise Problem(409, f"Pool {pool_id!r} is the default pool; it cannot be deleted.")
        async with unit.transaction() as tx:
            using = await repository.pools.rules_using(tx, pool_id)
            if using:
                raise Problem(409, f"Rules still route to pool {pool_id!r}: {', '.join(using)}.")
            if not await repository.pools.delete_pool(tx, pool_id, by=_changer(principal)):
                raise Problem(404, f"There is no pool {pool_id!r}.")

    @router.put(
        "/rules/{rule_id}",
        response_model=RuleOut,
        responses={201: {"model": RuleOut, "description": "Created"}},
        **WITHOUT_NULLS,
    )
    async def put_rule(
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
        _not_reserved(rule_id)
        async with unit.transaction() as tx:
            if (
                body.pool != settings.default_pool
                and await repository.pools.get_pool(tx, body.pool) is None
            ):
                raise _invalid("pool", "unknown pool", f"There is no pool {body.pool!r}.")
            created = await repository.rules.get_rule(tx, rule_id) is None
            values = body.model_dump(mode="json", exclude_none=True)
            values["name"] = body.name or rule_id
            await repository.rules.upsert_rule(tx, rule_id, values, by=_changer(principal))
            rule = await repository.rules.get_rule(tx, rule_id)
            assert rule is not None
            [out] = await rules_out(tx, [rule])
        response.status_code = 201 if created else 200
        return out

    @router.get("/rules", response_model=list[RuleOut], **WITHOUT_NULLS)
    async def list_rules(_: ManagerKey) -> list[RuleOut]:
        """Every rule, in the order they are tried."""
        async with unit.read() as conn:
            return await rules_out(conn, await repository.rules.list_rules(conn))

    @router.get("/rules/{rule_id}", response_model=RuleOut, **WITHOUT_NULLS)
    async def get_rule(rule_id: Id, _: ManagerKey) -> RuleOut:
        async with unit.read() as conn:
            rule = await repository.rules.get_rule(conn, rule_id)
            if rule is None:
                raise Problem(404, f"There is no rule {rule_id!r}.")
            [out] = await rules_out(conn, [rule])
        return out

    @router.delete("/rules/{rule_id}", status_code=204)
    async def delete_rule(rule_id: Id, principal: ManagerKey) -> None:
        async with unit.transaction() as tx:
            if not await repository.rules.delete_rule(tx, rule_id, by=_changer(principal)):
                raise Problem(404, f"There is no rule {rule_id!r}.")

    @router.post("/route:dry-run", response_model=DryRunOut)
    async def dry_run(body: DryRunIn, _: ManagerKey) -> DryRunOut:
        """Where would this lead go now, and why? Nothing is written or said."""
        async with unit.read() as conn:
            if body.lead_id is not None:
                lead = await repository.leads.get_lead(conn, body.lead_id)
                if lead is None:
                    raise _invalid(
                        "lead_id", "unknown lead", f"The router has no lead {body.lead_id!r}."
                    )
                profile, score = lead.profile, body.score if body.score is not None else lead.score
            else:
                assert body.lead is not None
                profile = LeadProfile.model_validate(body.lead.model_dump())
                score = body.score
            decision = await router_.decide(
                conn,
                await router_.begin(conn),
                profile,
                score,
                now=unit.clock.now(),
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
            explanation=decision.explanation,
        )

    # --- leads ---------------------------------------------------------------------------

    @router.get("/queue", response_model=list[AssignmentOut])
    async def queue(_: ManagerKey) -> list[AssignmentOut]:
        """Leads no rep could take (the fallback queue) and leads held until working hours."""
        async with unit.read() as conn:
            return [
                await router_.view(conn, lead) for lead in await repository.leads.queued_leads(conn)
            ]

    @router.get("/leads/{lead_id}/assignment", response_model=AssignmentOut)
    async def get_assignment(lead_id: str, principal: RepKey) -> AssignmentOut:
        """Who has the lead, its deadlines, and why it went there: the rule, the pool, the
        strategy, and each rep considered with why they were skipped. A rep sees the leads
        assigned to them and the leads they sourced."""
        async with unit.read() as conn:
            lead = await visible_lead(conn, lead_id, principal, found=True)
            return await router_.view(conn, lead)

    @router.post("/leads/{lead_id}/activities", status_code=201, response_model=ActivityOut)
    async def log_activity(
        lead_id: str, body: ActivityIn, request: Request, principal: RepKey
    ) -> ActivityOut:
        """Log a call, email, meeting or note on a lead assigned to you."""
        async with unit.transaction() as tx:
            lead = await visible_lead(tx, lead_id, principal, lock=True)
            with refusals():
                return await router_.log_activity(
                    tx, lead, body, request.headers.get("traceparent")
                )

    @router.post("/leads/{lead_id}/accept", response_model=AssignmentOut)
    async def accept(lead_id: str, request: Request, principal: RepKey) -> AssignmentOut:
        """Accept a lead assigned to you."""
        async with unit.transaction() as tx:
            lead = await visible_lead(tx, lead_id, principal, lock=True)
            with refusals():
                await router_.accept(tx, lead, request.headers.get("traceparent"))
            lead = await visible_lead(tx, lead_id, principal)
            return await router_.view(tx, lead)

    @router.post("/leads/{lead_id}/reject", response_model=RejectOut)
    async def reject(
        lead_id: str, body: RejectIn, request: Request, principal: RepKey
    ) -> RejectOut:
        """Reject a lead assigned to you, with a reason: it goes to the next eligible rep,
        or back to marketing (when you say so, or when no one else can take it)."""
        async with unit.transaction() as tx:
            lead = await visible_lead(tx, lead_id, principal, lock=True)
            with refusals():
                outcome = await router_.reject(tx, lead, body, request.headers.get("traceparent"))
        return RejectOut(lead_id=lead_id, outcome=outcome)  # type: ignore[arg-type]

    @router.post("/leads/{lead_id}/assign", response_model=AssignmentOut)
    async def assign(
        lead_id: str, body: AssignIn, request: Request, principal: ManagerKey
    ) -> AssignmentOut:
        """Route a lead again (one in the fallback queue, say), or give it to a rep."""
        async with unit.transaction() as tx:
            lead = await repository.leads.get_lead(tx, lead_id, for_update=True)
            if lead is None:
                raise Problem(404, f"The router has no lead {lead_id!r}.")
            with refusals():
                await router_.assign_manually(
                    tx,
                    lead,
                    body.rep_id,
                    body.reason,
                    by=principal.key_id,
                    traceparent=request.headers.get("traceparent"),
                )
            lead = await repository.leads.get_lead(tx, lead_id)
            assert lead is not None
            return await router_.view(tx, lead)

    @router.post("/leads/{lead_id}/opportunities", status_code=201, response_model=OpportunityOut)
    async def open_opportunity(
        lead_id: str, body: OpportunityIn, request: Request, principal: RepKey
    ) -> OpportunityOut:
        """Open an opportunity on a lead assigned to you (`opportunity.opened`)."""
        async with unit.transaction() as tx:
            lead = await visible_lead(tx, lead_id, principal, lock=True)
            with refusals():
                return await router_.open_opportunity(
                    tx, lead, body, request.headers.get("traceparent")
                )

    @router.get("/leads/{lead_id}/opportunities", response_model=list[OpportunityOut])
    async def lead_opportunities(lead_id: str, principal: RepKey) -> list[OpportunityOut]:
        async with unit.read() as conn:
            await visible_lead(conn, lead_id, principal)
            return await repository.opportunities.opportunities_of(conn, lead_id)

    @router.post("/opportunities/{opportunity_id}/close", response_model=OpportunityOut)
    async def close_opportunity(
        opportunity_id: str, body: CloseIn, request: Request, principal: RepKey
    ) -> OpportunityOut:
        """Close your opportunity won or lost (`opportunity.closed`)."""
        async with unit.transaction() as tx:
            opportunity = await repository.opportunities.get_opportunity(tx, opportunity_id)
            if opportunity is None or (
                principal.is_rep_only and opportunity.rep_id != principal.rep_id
            ):
                raise Problem(404, f"There is no opportunity {opportunity_id!r} visible to you.")
            with refusals():
                return await router_.close_opportunity(
                    tx, opportunity, body, request.headers.get("traceparent")
                )

    # --- webhook subscriptions -------------------------------------------------------------

    async def refuse_private(url: str) -> None:
        """SSRF: a manager may not aim the router at the private network (services/egress)."""
        if settings.allow_private_webhook_urls:
            return
        try:
            await check_public(url)
        except PrivateAddress as exc:
            raise _invalid(
                "url",
                f"must reach a public address: {exc}",
                f"The URL cannot be used: {exc}. Webhooks go to public addresses only; set "
                "LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS=true where the router may call "
                "private ones (a local tool, a test).",
            ) from exc

    @router.post("/subscriptions", status_code=201, response_model=SubscriptionCreated)
    async def create_subscription(body: SubscriptionIn, _: ManagerKey) -> SubscriptionCreated:
        """Subscribe a tool (a CRM, a dialer, a chat channel) to router events. Deliveries
        are signed as Standard Webhooks says; the secret is shown once, here. The URL must
        reach a public address unless LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS is set."""
        await refuse_private(body.url)
        secret = new_secret()
        async with unit.transaction() as tx:
            if body.rep_id is not None and not await repository.reps.rep_exists(tx, body.rep_id):
                raise _invalid("rep_id", "unknown rep", f"There is no rep {body.rep_id!r}.")
            now = tx.now()
            subscription_id = str(uuid.uuid4())
            await repository.subscriptions.insert_subscription(
                tx,
                {
                    "id": subscription_id,
                    "url": body.url,
                    "event_types": body.events,
                    "rep_id": body.rep_id,
                    "description": body.description,
                    "secret": box.seal(secret),
                    "active": body.active,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            stored = await repository.subscriptions.get_subscription(tx, subscription_id)
        assert stored is not None
        return SubscriptionCreated(**_subscription_out(stored, box).model_dump(), secret=secret)

    @router.get("/subscriptions", response_model=list[SubscriptionOut])
    async def list_subscriptions(_: ManagerKey) -> list[SubscriptionOut]:
        async with unit.read() as conn:
            return [
                _subscription_out(s, box)
                for s in await repository.subscriptions.list_subscriptions(conn)
            ]

    async def subscription_or_404(conn: Conn, subscription_id: str) -> Subscription:
        found = await repository.subscriptions.get_subscription(conn, subscription_id)
        if found is None:
            raise Problem(404, f"There is no subscription {subscription_id!r}.")
        return found

    @router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
    async def get_subscription(subscription_id: str, _: ManagerKey) -> SubscriptionOut:
        async with unit.read() as conn:
            return _subscription_out(await subscription_or_404(conn, subscription_id), box)

    @router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
    async def update_subscription(
        subscription_id: str, body: SubscriptionPatch, _: ManagerKey
    ) -> SubscriptionOut:
        changes: dict[str, Any] = body.model_dump(exclude_unset=True)
        if "events" in changes:
            changes["event_types"] = changes.pop("events") or []
        for field in ("url", "active"):
            if field in changes and changes[field] is None:
                raise _invalid(field, "cannot be null", f"{field} cannot be null.")
        if "url" in changes:
            await refuse_private(changes["url"])
        async with unit.transaction() as tx:
            await subscription_or_404(tx, subscription_id)
            rep_id = changes.get("rep_id")
            if rep_id is not None and not await repository.reps.rep_exists(tx, rep_id):
                raise _invalid("rep_id", "unknown rep", f"There is no rep {rep_id!r}.")
            if changes:
                await repository.subscriptions.update_subscription(tx, subscription_id, changes)
            return _subscription_out(await subscription_or_404(tx, subscription_id), box)

    @router.delete("/subscriptions/{subscription_id}", status_code=204)
    async def delete_subscription(subscription_id: str, _: ManagerKey) -> None:
        """Remove a subscription and its deliveries."""
        async with unit.transaction() as tx:
            if not await repository.subscriptions.delete_subscription(tx, subscription_id):
                raise Problem(404, f"There is no subscription {subscription_id!r}.")

    @router.get(
        "/subscriptions/{subscription_id}/deliveries", response_model=list[SubscriptionDeliveryOut]
    )
    async def list_deliveries(
        subscription_id: str,
        _: ManagerKey,
        status: DeliveryStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[SubscriptionDeliveryOut]:
        """A subscription's deliveries, newest first; `status=dead` lists those given up."""
        async with unit.read() as conn:
            await subscription_or_404(conn, subscription_id)
            return await repository.deliveries.list_deliveries(conn, subscription_id, status, limit)

    @router.post(
        "/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry",
        response_model=SubscriptionDeliveryOut,
    )
    async def retry_delivery(
        subscription_id: str, delivery_id: str, _: ManagerKey
    ) -> SubscriptionDeliveryOut:
        """Try a dead (or pending) delivery again now, with a fresh retry window."""
        async with unit.transaction() as tx:
            found = await repository.deliveries.get_delivery(tx, delivery_id)
            if found is None or found.subscription_id != subscription_id:
                raise Problem(404, f"There is no delivery {delivery_id!r} of that subscription.")
            if found.status == "delivered":
                raise Problem(409, f"Delivery {delivery_id!r} was delivered already.")
            now = tx.now()
            await repository.deliveries.update_delivery(
                tx,
                delivery_id,
                status="pending",
                next_attempt_at=now,
                expires_at=now + timedelta(hours=settings.webhook_retry_hours),
            )
            again = await repository.deliveries.get_delivery(tx, delivery_id)
        assert again is not None
        return again

    return router
