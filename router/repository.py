"""All of the router's SQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from sqlalchemy import Select, and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.events import LeadProfile
from router.config import ROUTING
from router.models import (
    accounts,
    activities,
    assignments,
    config_versions,
    cursors,
    deliveries,
    erased,
    leads,
    opportunities,
    pool_reps,
    pools,
    reps,
    rules,
    subscriptions,
    teams,
)
from router.rules import Conditions
from router.schemas import (
    ActivityOut,
    ChangedBy,
    HistoryOut,
    OpportunityOut,
    PoolOut,
    RepOut,
    RuleOut,
    SlaIn,
    SubscriptionDeliveryOut,
    TeamIn,
    TeamOut,
)
from services import erasure
from services.crypto import SecretBox
from services.db import ReadConn, Tx
from services.reference import bump
from services.statements import insert_ignoring, upsert

Conn = ReadConn | Tx


def _c(conn: Conn) -> AsyncConnection:
    return conn.conn if isinstance(conn, Tx) else conn


# --- records --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadRecord:
    lead_id: str
    profile: LeadProfile
    score: int | None
    status: str
    rep_id: str | None
    assignment_id: str | None
    pool: str | None
    rule: str | None
    strategy: str | None
    queue: str | None
    held_until: datetime | None
    explanation: dict[str, Any] | None
    reassignments: int
    return_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AssignmentRecord:
    id: str
    lead_id: str
    rep_id: str
    kind: str
    pool: str
    rule: str
    strategy: str
    explanation: dict[str, Any]
    assigned_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    first_touch_due_at: datetime
    touched_at: datetime | None
    first_touch: str
    first_touch_resolved_at: datetime | None
    cadence_due_at: datetime
    cadence: str
    cadence_resolved_at: datetime | None
    calls_required: int
    emails_required: int
    min_spacing_minutes: float
    calls_made: int
    emails_made: int
    calls_counted: int
    emails_counted: int
    last_call_at: datetime | None
    last_email_at: datetime | None
    connected_at: datetime | None


@dataclass(frozen=True)
class PoolRepState:
    current: int
    assigned: int
    last_assigned_at: datetime | None


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    event_types: list[str]
    rep_id: str | None
    description: str | None
    secret: str
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DueDelivery:
    id: str
    subscription_id: str
    url: str
    secret: str
    event_id: str
    payload: str
    attempts: int
    expires_at: datetime
    traceparent: str | None = None


# --- reps -------------------------------------------------------------------------------------


def _rep(row: Any) -> RepOut:
    data = dict(row._mapping)
    data["suspended"] = data.get("suspended_at") is not None
    for who in ("changed_by", "suspended_by"):
        key_id, name = data.pop(who, None), data.pop(f"{who}_name", None)
        data[who] = ChangedBy(key_id=key_id, name=name) if key_id else None
    return RepOut.model_validate(data)


async def insert_rep(tx: Tx, values: dict[str, Any]) -> RepOut | None:
    """The new rep, or None when a rep with its id exists (also one a concurrent request
    inserted after this one looked: the insert does nothing instead of failing)."""
    result = await tx.conn.execute(insert_ignoring(reps, tx.conn.dialect.name), values)
    if result.rowcount != 1:
        return None
    await bump(tx, ROUTING)
    rep = await get_rep(tx, values["id"])
    assert rep is not None
    return rep


async def update_rep(tx: Tx, rep_id: str, values: dict[str, Any]) -> None:
    await tx.conn.execute(update(reps).where(reps.c.id == rep_id).values(**values))
    await bump(tx, ROUTING)


async def get_rep(conn: Conn, rep_id: str) -> RepOut | None:
    row = (await _c(conn).execute(select(reps).where(reps.c.id == rep_id))).first()
    return _rep(row) if row else None


async def rep_exists(conn: Conn, rep_id: str) -> bool:
    return await _c(conn).scalar(select(reps.c.id).where(reps.c.id == rep_id)) is not None


async def list_reps(conn: Conn) -> list[RepOut]:
    rows = (await _c(conn).execute(select(reps).order_by(reps.c.id))).all()
    return [_rep(r) for r in rows]


async def reps_where(
    conn: Conn, *, ids: Sequence[str] = (), team_ids: Sequence[str] = ()
) -> list[RepOut]:
    """Reps with one of `ids` or on one of `team_ids`; with neither given, every rep."""
    query = select(reps).order_by(reps.c.id)
    if ids or team_ids:
        query = query.where(or_(reps.c.id.in_(list(ids)), reps.c.team_id.in_(list(team_ids))))
    return [_rep(r) for r in (await _c(conn).execute(query)).all()]


# --- teams and accounts -----------------------------------------------------------------------


def _team(row: Any) -> TeamOut:
    return TeamOut.model_validate(dict(row._mapping))


async def get_team(conn: Conn, team_id: str) -> TeamOut | None:
    row = (await _c(conn).execute(select(teams).where(teams.c.id == team_id))).first()
    return _team(row) if row else None


async def list_teams(conn: Conn) -> list[TeamOut]:
    return [_team(r) for r in (await _c(conn).execute(select(teams).order_by(teams.c.id))).all()]


async def upsert_team(tx: Tx, team_id: str, team: TeamIn) -> None:
    now = tx.now()
    await bump(tx, ROUTING)
    values = {
        "name": team.name,
        "country": team.country,
        "subdivision": team.subdivision,
        "holidays": [h.model_dump(mode="json") for h in team.holidays],
        "worked_holidays": [d.isoformat() for d in team.worked_holidays],
        "updated_at": now,
    }
    if await get_team(tx, team_id) is None:
        await tx.conn.execute(teams.insert().values(id=team_id, created_at=now, **values))
    else:
        await tx.conn.execute(update(teams).where(teams.c.id == team_id).values(**values))


async def delete_team(tx: Tx, team_id: str) -> bool:
    result = await tx.conn.execute(delete(teams).where(teams.c.id == team_id))
    await bump(tx, ROUTING)
    return bool(result.rowcount)


def _account(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


async def account_owner(conn: Conn, domain: str) -> str | None:
    owner: str | None = await _c(conn).scalar(
        select(accounts.c.rep_id).where(accounts.c.domain == domain)
    )
    return owner


async def list_accounts(conn: Conn) -> list[dict[str, Any]]:
    rows = (await _c(conn).execute(select(accounts).order_by(accounts.c.domain))).all()
    return [_account(r) for r in rows]


async def get_account(conn: Conn, domain: str) -> dict[str, Any] | None:
    row = (await _c(conn).execute(select(accounts).where(accounts.c.domain == domain))).first()
    return _account(row) if row else None


async def accounts_in(conn: Conn, domains: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The accounts of `domains` that have an owner, by domain."""
    if not domains:
        return {}
    rows = (
        await _c(conn).execute(select(accounts).where(accounts.c.domain.in_(list(domains))))
    ).all()
    return {r.domain: _account(r) for r in rows}


async def upsert_account(
    tx: Tx,
    domain: str,
    rep_id: str,
    *,
    connector_id: str | None = None,
    external_id: str | None = None,
) -> None:
    """Give `domain` the owner `rep_id`: by hand (`source` manual), or synced from a CRM
    by a connector (`source` connector, with the CRM's id of the account)."""
    now = tx.now()
    await bump(tx, ROUTING)
    values = {
        "rep_id": rep_id,
        "updated_at": now,
        "source": "manual" if connector_id is None else "connector",
        "connector_id": connector_id,
        "external_id": external_id,
    }
    if await get_account(tx, domain) is None:
        await tx.conn.execute(accounts.insert().values(domain=domain, created_at=now, **values))
    else:
        await tx.conn.execute(update(accounts).where(accounts.c.domain == domain).values(values))


async def delete_account(tx: Tx, domain: str) -> bool:
    result = await tx.conn.execute(delete(accounts).where(accounts.c.domain == domain))
    await bump(tx, ROUTING)
    return bool(result.rowcount)


# --- pools and rules --------------------------------------------------------------------------


def _pool(row: Any) -> PoolOut:
    data = dict(row._mapping)
    data["sla"] = SlaIn.model_validate(data["sla"] or {})
    return PoolOut.model_validate(data)


async def get_pool(conn: Conn, pool_id: str) -> PoolOut | None:
    row = (await _c(conn).execute(select(pools).where(pools.c.id == pool_id))).first()
    return _pool(row) if row else None


async def list_pools(conn: Conn) -> list[PoolOut]:
    return [_pool(r) for r in (await _c(conn).execute(select(pools).order_by(pools.c.id))).all()]


async def upsert_pool(
    tx: Tx, pool_id: str, values: dict[str, Any], *, by: Changer, restored_from: int | None = None
) -> ConfigVersion:
    """Create or replace a pool, as a new version by `by`."""
    now = tx.now()
    await bump(tx, ROUTING)
    created = await get_pool(tx, pool_id) is None
    if created:
        await tx.conn.execute(
            pools.insert().values(id=pool_id, created_at=now, updated_at=now, **values)
        )
    else:
        await tx.conn.execute(
            update(pools).where(pools.c.id == pool_id).values(updated_at=now, **values)
        )
    state = {f: values[f] for f in POOL_FIELDS if f in values}
    action: ConfigAction = "created" if created else "changed"
    return await _record_version(tx, "pool", pool_id, action, state, by, restored_from)


async def delete_pool(
    tx: Tx, pool_id: str, *, by: Changer, restored_from: int | None = None
) -> ConfigVersion | None:
    """Delete the pool, as a new version by `by`; None when there was no such pool."""
    result = await tx.conn.execute(delete(pools).where(pools.c.id == pool_id))
    await bump(tx, ROUTING)
    await tx.conn.execute(delete(pool_reps).where(pool_reps.c.pool == pool_id))
    await tx.conn.execute(delete(cursors).where(cursors.c.pool == pool_id))
    if not result.rowcount:
        return None
    return await _record_version(tx, "pool", pool_id, "deleted", None, by, restored_from)


async def rules_using(conn: Conn, pool_id: str) -> list[str]:
    rows = await _c(conn).execute(select(rules.c.id).where(rules.c.pool == pool_id))
    return [r.id for r in rows]


def _rule(row: Any) -> RuleOut:
    data = dict(row._mapping)
    data["conditions"] = Conditions.model_validate(data["conditions"] or {})
    return RuleOut.model_validate(data)


async def list_rules(conn: Conn) -> list[RuleOut]:
    query = select(rules).order_by(rules.c.position, rules.c.id)
    return [_rule(r) for r in (await _c(conn).execute(query)).all()]


async def get_rule(conn: Conn, rule_id: str) -> RuleOut | None:
    row = (await _c(conn).execute(select(rules).where(rules.c.id == rule_id))).first()
    return _rule(row) if row else None


async def upsert_rule(
    tx: Tx, rule_id: str, values: dict[str, Any], *, by: Changer, restored_from: int | None = None
) -> ConfigVersion:
    """Create or replace a rule, as a new version by `by`."""
    now = tx.now()
    await bump(tx, ROUTING)
    created = await get_rule(tx, rule_id) is None
    if created:
        await tx.conn.execute(
            rules.insert().values(id=rule_id, created_at=now, updated_at=now, **values)
        )
    else:
        await tx.conn.execute(
            update(rules).where(rules.c.id == rule_id).values(updated_at=now, **values)
        )
    state = {f: values[f] for f in RULE_FIELDS if f in values}
    action: ConfigAction = "created" if created else "changed"
    return await _record_version(tx, "rule", rule_id, action, state, by, restored_from)


async def delete_rule(
    tx: Tx, rule_id: str, *, by: Changer, restored_from: int | None = None
) -> ConfigVersion | None:
    """Delete the rule, as a new version by `by`; None when there was no such rule."""
    result = await tx.conn.execute(delete(rules).where(rules.c.id == rule_id))
    await bump(tx, ROUTING)
    if not result.rowcount:
        return None
    return await _record_version(tx, "rule", rule_id, "deleted", None, by, restored_from)


# --- versions of rules and pools ----------------------------------------------------------------

ConfigKind = Literal["rule", "pool"]
ConfigAction = Literal["created", "changed", "deleted"]
RULE_FIELDS = ("name", "position", "conditions", "pool", "enabled")
POOL_FIELDS = (
    *("name", "strategy", "members", "teams", "outside_hours", "match_territory"),
    *("match_language", "owner_fallback", "sourced_leads", "sla"),
)


@dataclass(frozen=True)
class Changer:
    """Who makes a change: the API key's id and name."""

    key_id: str
    name: str | None = None


@dataclass(frozen=True)
class ConfigVersion:
    version: int
    kind: ConfigKind
    object_id: str
    action: ConfigAction
    state: dict[str, Any] | None
    """The rule's or pool's whole definition after the change; None when deleted."""
    restored_from: int | None
    changed_by: Changer
    changed_at: datetime


def _config_version(row: Any) -> ConfigVersion:
    return ConfigVersion(
        version=int(row.version),
        kind=row.kind,
        object_id=row.object_id,
        action=row.action,
        state=row.state,
        restored_from=row.restored_from,
        changed_by=Changer(row.changed_by, row.changed_by_name),
        changed_at=row.changed_at,
    )


async def _record_version(
    tx: Tx,
    kind: ConfigKind,
    object_id: str,
    action: ConfigAction,
    state: dict[str, Any] | None,
    by: Changer,
    restored_from: int | None,
) -> ConfigVersion:
    now = tx.now()
    result = await tx.conn.execute(
        config_versions.insert().values(
            kind=kind,
            object_id=object_id,
            action=action,
            state=state,
            restored_from=restored_from,
            changed_by=by.key_id,
            changed_by_name=by.name,
            changed_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return ConfigVersion(int(key[0]), kind, object_id, action, state, restored_from, by, now)


async def config_history(
    conn: Conn, kind: ConfigKind, object_id: str | None = None, limit: int = 100
) -> list[ConfigVersion]:
    """Changes of rules (or pools), newest first; of one of them with `object_id`."""
    query = select(config_versions).where(config_versions.c.kind == kind)
    if object_id is not None:
        query = query.where(config_versions.c.object_id == object_id)
    query = query.order_by(config_versions.c.version.desc()).limit(limit)
    return [_config_version(r) for r in (await _c(conn).execute(query)).all()]


async def latest_config_version(conn: Conn) -> int:
    """The newest version of any rule or pool (0 before the first change)."""
    return int(await _c(conn).scalar(select(func.max(config_versions.c.version))) or 0)


async def config_as_of(
    conn: Conn, kind: ConfigKind, version: int | None = None
) -> dict[str, ConfigVersion]:
    """The rules (or pools) as they were right after `version` (None: now): per object, its
    latest version at or below it, left out when that was a deletion."""
    latest = (
        select(func.max(config_versions.c.version))
        .where(config_versions.c.kind == kind)
        .group_by(config_versions.c.object_id)
    )
    if version is not None:
        latest = latest.where(config_versions.c.version <= version)
    query = select(config_versions).where(config_versions.c.version.in_(latest))
    rows = [_config_version(r) for r in (await _c(conn).execute(query)).all()]
    return {v.object_id: v for v in rows if v.state is not None}


# --- routing state ----------------------------------------------------------------------------


async def lock_partitions(tx: Tx, pools: Iterable[str], reps: Iterable[str]) -> None:
    """Until commit, this transaction is the only one deciding for these pools and reps:
    a decision reads its pool's counters and cursor and its candidates' loads and caps, so
    two decisions conflict exactly when they share a pool or a rep. Decisions for other
    pools and reps go on in parallel on other replicas. The locks are taken in one
    statement in a global order (no deadlock between two batches); SQLite's single writer
    already serialises everything."""
    if tx.unit.database.is_sqlite:
        return
    keys = sorted({f"pool:{p}" for p in pools} | {f"rep:{r}" for r in reps})
    if keys:
        await tx.conn.execute(_LOCK_PARTITIONS, {"keys": keys})


# pg_advisory_xact_lock is volatile, so PostgreSQL calls it after the ORDER BY.
_LOCK_PARTITIONS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 7411)) "
    "FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
)


async def save_routing_state(
    tx: Tx, states: list[dict[str, Any]], cursor_rows: list[dict[str, Any]]
) -> None:
    """Store weighted counters and round-robin cursors (one upsert per table)."""
    dialect = tx.conn.dialect.name
    if states:
        columns = ("pool", "rep_id", "current", "assigned", "last_assigned_at")
        await tx.conn.execute(upsert(pool_reps, dialect, columns, ("pool", "rep_id")), states)
    if cursor_rows:
        statement = upsert(cursors, dialect, ("pool", "last_rep_id"), ("pool",))
        await tx.conn.execute(statement, cursor_rows)


_CURSOR = select(cursors.c.last_rep_id).where(cursors.c.pool == bindparam("pool"))


async def cursor_of(conn: Conn, pool: str) -> str | None:
    last: str | None = await _c(conn).scalar(_CURSOR, {"pool": pool})
    return last


_POOL_REPS = select(pool_reps).where(
    pool_reps.c.pool == bindparam("pool"),
    pool_reps.c.rep_id.in_(bindparam("rep_ids", expanding=True)),
)


async def pool_rep_states(conn: Conn, pool: str, rep_ids: Sequence[str]) -> dict[str, PoolRepState]:
    if not rep_ids:
        return {}
    rows = (await _c(conn).execute(_POOL_REPS, {"pool": pool, "rep_ids": list(rep_ids)})).all()
    return {r.rep_id: PoolRepState(r.current, r.assigned, r.last_assigned_at) for r in rows}


OPEN_STATUSES = ("assigned", "accepted")
WORKING_STATUSES = ("assigned", "accepted", "opportunity")

# Built once (routing reads these for every batch): building a statement costs more CPU than
# SQLite takes to run it.
_OPEN_COUNTS = (
    select(leads.c.rep_id, func.count())
    .where(
        leads.c.rep_id.in_(bindparam("rep_ids", expanding=True)),
        leads.c.status.in_(OPEN_STATUSES),
    )
    .group_by(leads.c.rep_id)
)


async def open_lead_counts(conn: Conn, rep_ids: Sequence[str]) -> dict[str, int]:
    """Open leads (assigned or accepted, not yet an opportunity) per rep."""
    if not rep_ids:
        return {}
    rows = await _c(conn).execute(_OPEN_COUNTS, {"rep_ids": list(rep_ids)})
    return {r[0]: int(r[1]) for r in rows}


@cache
def _assigned_since(reps: int) -> Select[Any]:
    """Assignments per rep since each rep's own moment, for `reps` reps (built once per
    number of reps: `rep_<i>` and `since_<i>` are the parameters)."""
    condition = or_(
        *(
            and_(
                assignments.c.rep_id == bindparam(f"rep_{i}"),
                assignments.c.assigned_at >= bindparam(f"since_{i}"),
            )
            for i in range(reps)
        )
    )
    return (
        select(assignments.c.rep_id, func.count()).where(condition).group_by(assignments.c.rep_id)
    )


async def assigned_since(conn: Conn, since_by_rep: dict[str, datetime]) -> dict[str, int]:
    """Assignments each rep got since their own moment (their local midnight)."""
    if not since_by_rep:
        return {}
    parameters: dict[str, Any] = {}
    for i, (rep_id, since) in enumerate(since_by_rep.items()):
        parameters[f"rep_{i}"] = rep_id
        parameters[f"since_{i}"] = since
    rows = await _c(conn).execute(_assigned_since(len(since_by_rep)), parameters)
    return {r[0]: int(r[1]) for r in rows}


# --- leads ----------------------------------------------------------------------------------


def _lead(row: Any) -> LeadRecord:
    data = dict(row._mapping)
    data["profile"] = LeadProfile.model_validate(data["profile"])
    return LeadRecord(**data)


async def get_lead(conn: Conn, lead_id: str, *, for_update: bool = False) -> LeadRecord | None:
    query = select(leads).where(leads.c.lead_id == lead_id)
    if for_update and isinstance(conn, Tx) and not conn.unit.database.is_sqlite:
        query = query.with_for_update()
    row = (await _c(conn).execute(query)).first()
    return _lead(row) if row else None


_LEADS_BY_ID = select(leads).where(leads.c.lead_id.in_(bindparam("lead_ids", expanding=True)))
_LEADS_BY_ID_FOR_UPDATE = _LEADS_BY_ID.with_for_update()


async def leads_by_id(
    tx: Tx, lead_ids: Iterable[str], *, for_update: bool = False
) -> dict[str, LeadRecord]:
    query = (
        _LEADS_BY_ID_FOR_UPDATE if for_update and not tx.unit.database.is_sqlite else _LEADS_BY_ID
    )
    rows = (await tx.conn.execute(query, {"lead_ids": sorted(set(lead_ids))})).all()
    return {r.lead_id: _lead(r) for r in rows}


def new_lead(lead_id: str, profile: LeadProfile, score: int | None, now: datetime) -> LeadRecord:
    """A lead the router has just been told about, before any decision."""
    return LeadRecord(
        lead_id=lead_id,
        profile=profile,
        score=score,
        status="queued",
        rep_id=None,
        assignment_id=None,
        pool=None,
        rule=None,
        strategy=None,
        queue=None,
        held_until=None,
        explanation=None,
        reassignments=0,
        return_reason=None,
        created_at=now,
        updated_at=now,
    )


def lead_row(lead: LeadRecord) -> dict[str, Any]:
    return lead_values(vars(lead))


def lead_values(values: dict[str, Any]) -> dict[str, Any]:
    if isinstance(values.get("profile"), LeadProfile):
        values = {**values, "profile": values["profile"].model_dump(mode="json")}
    return dict(values)


async def insert_leads(tx: Tx, rows: list[dict[str, Any]]) -> None:
    if rows:
        await tx.conn.execute(leads.insert(), rows)


async def change_leads(tx: Tx, changes: dict[str, dict[str, Any]]) -> None:
    """Update leads by id: one executemany per set of changed columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for lead_id, values in changes.items():
        by_columns.setdefault(tuple(sorted(values)), []).append({**values, "_lead_id": lead_id})
    for rows in by_columns.values():
        await tx.conn.execute(_UPDATE_LEAD, rows)


_UPDATE_LEAD = update(leads).where(leads.c.lead_id == bindparam("_lead_id"))


async def insert_assignments(tx: Tx, rows: list[dict[str, Any]]) -> None:
    if rows:
        await tx.conn.execute(assignments.insert(), rows)


async def update_lead(tx: Tx, lead_id: str, **values: Any) -> None:
    if "profile" in values and isinstance(values["profile"], LeadProfile):
        values["profile"] = values["profile"].model_dump(mode="json")
    # Parameters at execute time: the compiled statement is cached per set of columns.
    statement = update(leads).where(leads.c.lead_id == bindparam("_lead_id"))
    await tx.conn.execute(statement, {**values, "updated_at": tx.now(), "_lead_id": lead_id})


async def leads_of_rep(conn: Conn, rep_id: str, statuses: Sequence[str] | None) -> list[LeadRecord]:
    query = select(leads).where(leads.c.rep_id == rep_id).order_by(leads.c.updated_at.desc())
    if statuses:
        query = query.where(leads.c.status.in_(list(statuses)))
    return [_lead(r) for r in (await _c(conn).execute(query)).all()]


async def queued_leads(conn: Conn) -> list[LeadRecord]:
    query = select(leads).where(leads.c.status.in_(("queued", "held"))).order_by(leads.c.updated_at)
    return [_lead(r) for r in (await _c(conn).execute(query)).all()]


# --- assignments ------------------------------------------------------------------------------


def _assignment(row: Any) -> AssignmentRecord:
    return AssignmentRecord(**dict(row._mapping))


async def insert_assignment(tx: Tx, values: dict[str, Any]) -> None:
    await tx.conn.execute(assignments.insert(), values)


async def get_assignment(
    conn: Conn, assignment_id: str, *, for_update: bool = False
) -> AssignmentRecord | None:
    query = select(assignments).where(assignments.c.id == assignment_id)
    if for_update and isinstance(conn, Tx) and not conn.unit.database.is_sqlite:
        query = query.with_for_update()
    row = (await _c(conn).execute(query)).first()
    return _assignment(row) if row else None


async def assignments_by_id(conn: Conn, ids: Sequence[str]) -> dict[str, AssignmentRecord]:
    if not ids:
        return {}
    rows = (await _c(conn).execute(select(assignments).where(assignments.c.id.in_(ids)))).all()
    return {r.id: _assignment(r) for r in rows}


async def update_assignment(tx: Tx, assignment_id: str, **values: Any) -> None:
    statement = update(assignments).where(assignments.c.id == bindparam("_id"))
    await tx.conn.execute(statement, {**values, "_id": assignment_id})


async def history(conn: Conn, lead_id: str) -> list[HistoryOut]:
    rows = (
        await _c(conn).execute(
            select(assignments)
            .where(assignments.c.lead_id == lead_id)
            # Ties (one instant) put ended assignments first, in the order they ended: a
            # lead has at most one open assignment, the latest.
            .order_by(
                assignments.c.assigned_at,
                assignments.c.ended_at.is_(None),
                assignments.c.ended_at,
                assignments.c.id,
            )
        )
    ).all()
    return [
        HistoryOut(
            assignment_id=r.id,
            rep_id=r.rep_id,
            kind=r.kind,
            pool=r.pool,
            rule=r.rule,
            strategy=r.strategy,
            assigned_at=r.assigned_at,
            ended_at=r.ended_at,
            end_reason=r.end_reason,
            first_touch=r.first_touch,
            cadence=r.cadence,
        )
        for r in rows
    ]


async def reps_who_had(conn: Conn, lead_id: str) -> set[str]:
    rows = await _c(conn).execute(
        select(assignments.c.rep_id).where(assignments.c.lead_id == lead_id).distinct()
    )
    return {r.rep_id for r in rows}


async def insert_activity(tx: Tx, activity: ActivityOut) -> None:
    await tx.conn.execute(activities.insert().values(**activity.model_dump()))


# --- compliance -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplianceCounts:
    first_touch_due: int
    first_touch_met: int
    cadences_ended: int
    cadences_completed: int


async def compliance_counts(
    conn: Conn, rep_id: str, since: datetime, until: datetime
) -> ComplianceCounts:
    """Obligations resolved after `since` (a reinstatement: what was resolved by then was
    judged already) up to and including `until`."""
    c = _c(conn)
    first = await c.execute(
        select(assignments.c.first_touch, func.count())
        .where(
            assignments.c.rep_id == rep_id,
            assignments.c.first_touch.in_(("met", "breached")),
            assignments.c.first_touch_resolved_at > since,
            assignments.c.first_touch_resolved_at <= until,
        )
        .group_by(assignments.c.first_touch)
    )
    ft = {r[0]: int(r[1]) for r in first}
    cadence = await c.execute(
        select(assignments.c.cadence, func.count())
        .where(
            assignments.c.rep_id == rep_id,
            assignments.c.cadence.in_(("connected", "exhausted", "breached")),
            assignments.c.cadence_resolved_at > since,
            assignments.c.cadence_resolved_at <= until,
        )
        .group_by(assignments.c.cadence)
    )
    cad = {r[0]: int(r[1]) for r in cadence}
    return ComplianceCounts(
        first_touch_due=sum(ft.values()),
        first_touch_met=ft.get("met", 0),
        cadences_ended=sum(cad.values()),
        cadences_completed=cad.get("connected", 0) + cad.get("exhausted", 0),
    )


# --- opportunities ----------------------------------------------------------------------------


def _opportunity(row: Any) -> OpportunityOut:
    return OpportunityOut.model_validate(dict(row._mapping))


async def insert_opportunity(tx: Tx, opportunity: OpportunityOut) -> None:
    await tx.conn.execute(opportunities.insert().values(**opportunity.model_dump()))


async def get_opportunity(conn: Conn, opportunity_id: str) -> OpportunityOut | None:
    row = (
        await _c(conn).execute(select(opportunities).where(opportunities.c.id == opportunity_id))
    ).first()
    return _opportunity(row) if row else None


async def opportunities_of(conn: Conn, lead_id: str) -> list[OpportunityOut]:
    rows = (
        await _c(conn).execute(
            select(opportunities)
            .where(opportunities.c.lead_id == lead_id)
            .order_by(opportunities.c.opened_at)
        )
    ).all()
    return [_opportunity(r) for r in rows]


async def close_opportunity(
    tx: Tx, opportunity_id: str, *, won: bool, amount: Decimal, reason: str | None
) -> None:
    await tx.conn.execute(
        update(opportunities)
        .where(opportunities.c.id == opportunity_id)
        .values(status="won" if won else "lost", amount=amount, reason=reason, closed_at=tx.now())
    )


# --- webhook subscriptions and deliveries -----------------------------------------------------


def _subscription(row: Any) -> Subscription:
    return Subscription(**dict(row._mapping))


async def insert_subscription(tx: Tx, values: dict[str, Any]) -> None:
    """`values["secret"]` is stored as given: the caller seals it (services/crypto.py)."""
    await tx.conn.execute(subscriptions.insert().values(**values))
    await bump(tx, ROUTING)


async def reseal_subscription_secrets(tx: Tx, box: SecretBox) -> int:
    """Seal, with the first key, every secret stored plain or under another key."""
    changed = 0
    for row in (await tx.conn.execute(select(subscriptions.c.id, subscriptions.c.secret))).all():
        resealed = box.resealed(row.secret)
        if resealed is not None:
            await tx.conn.execute(
                update(subscriptions).where(subscriptions.c.id == row.id).values(secret=resealed)
            )
            changed += 1
    return changed


async def get_subscription(conn: Conn, subscription_id: str) -> Subscription | None:
    row = (
        await _c(conn).execute(select(subscriptions).where(subscriptions.c.id == subscription_id))
    ).first()
    return _subscription(row) if row else None


async def list_subscriptions(conn: Conn, *, active_only: bool = False) -> list[Subscription]:
    query = select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
    if active_only:
        query = query.where(subscriptions.c.active)
    return [_subscription(r) for r in (await _c(conn).execute(query)).all()]


async def update_subscription(tx: Tx, subscription_id: str, values: dict[str, Any]) -> None:
    await tx.conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id)
        .values(updated_at=tx.now(), **values)
    )
    await bump(tx, ROUTING)


async def delete_subscription(tx: Tx, subscription_id: str) -> bool:
    await tx.conn.execute(delete(deliveries).where(deliveries.c.subscription_id == subscription_id))
    result = await tx.conn.execute(
        delete(subscriptions).where(subscriptions.c.id == subscription_id)
    )
    await bump(tx, ROUTING)
    return bool(result.rowcount)


async def insert_deliveries(tx: Tx, rows: list[dict[str, Any]]) -> None:
    """Queue webhook deliveries; written with the transaction's outbox rows at commit."""
    for row in rows:
        tx.defer(INSERT_DELIVERY, row)


INSERT_DELIVERY = deliveries.insert()
"""Deferred (`Tx.defer`): the rows the webhook worker may take at flush."""


async def any_due(conn: Conn, now: datetime) -> bool:
    return await _c(conn).scalar(_ANY_DUE, {"now": now}) is not None


async def claim_due(
    tx: Tx,
    now: datetime,
    lease_until: datetime,
    limit: int,
    *,
    per_subscription: int | None = None,
    in_flight: Mapping[str, int] | None = None,
) -> list[DueDelivery]:
    """Lease due deliveries (replicas skip each other's) by moving their next attempt on.
    With `per_subscription`, each subscription first gets up to that many counting those
    already `in_flight` (one that has its share is not even read); slots still free then
    go to whoever has more due, as long as `per_subscription` slots stay free for a
    subscription with none running. So a lone subscription gets the whole pool but that,
    and a slow one never holds up a newcomer."""
    in_flight = Counter(in_flight or {})
    due = _due(tx.conn.dialect.name)
    if per_subscription is None:
        rows = list(
            await tx.conn.execute(due, {"now": now, "full": [], "chosen": [], "limit": limit})
        )
    else:
        full = [s for s, n in in_flight.items() if n >= per_subscription]
        rows = []
        fair = {"now": now, "full": full, "chosen": [], "limit": limit * 4}
        for row in await tx.conn.execute(due, fair):
            if len(rows) < limit and in_flight[row.subscription_id] < per_subscription:
                in_flight[row.subscription_id] += 1
                rows.append(row)
        # Beyond the shares: fill the free slots but one share's worth (kept for newcomers).
        room = limit - per_subscription - len(rows)
        if room > 0:
            more = {"now": now, "full": [], "chosen": [r.id for r in rows], "limit": room}
            rows += list(await tx.conn.execute(due, more))
    if not rows:
        return []
    await tx.conn.execute(_LEASE, {"ids": [r.id for r in rows], "lease_until": lease_until})
    subs = {
        s.id: s
        for s in (
            _subscription(r)
            for r in await tx.conn.execute(
                _SUBSCRIPTIONS_BY_ID, {"ids": list({r.subscription_id for r in rows})}
            )
        )
    }
    return [
        DueDelivery(
            id=r.id,
            subscription_id=r.subscription_id,
            url=subs[r.subscription_id].url,
            secret=subs[r.subscription_id].secret,
            event_id=r.event_id,
            payload=r.payload,
            attempts=r.attempts,
            expires_at=r.expires_at,
            traceparent=r.traceparent,
        )
        for r in rows
        if r.subscription_id in subs
    ]


# Built once: the webhook worker claims on every commit that stored deliveries.
_ANY_DUE = (
    select(deliveries.c.id)
    .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= bindparam("now"))
    .limit(1)
)


@cache
def _due(dialect: str) -> Select[Any]:
    """Due deliveries, oldest first, but those of the `full` subscriptions and those
    `chosen` already; replicas skip each other's rows on PostgreSQL."""
    query = (
        select(
            deliveries.c.id,
            deliveries.c.subscription_id,
            deliveries.c.event_id,
            deliveries.c.payload,
            deliveries.c.attempts,
            deliveries.c.expires_at,
            deliveries.c.traceparent,
        )
        .where(
            deliveries.c.status == "pending",
            deliveries.c.next_attempt_at <= bindparam("now"),
            deliveries.c.subscription_id.not_in(bindparam("full", expanding=True)),
            deliveries.c.id.not_in(bindparam("chosen", expanding=True)),
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.created_at)
        .limit(bindparam("limit"))
    )
    return query if dialect == "sqlite" else query.with_for_update(skip_locked=True)


_LEASE = (
    update(deliveries)
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .values(next_attempt_at=bindparam("lease_until"))
)
_SUBSCRIPTIONS_BY_ID = select(subscriptions).where(
    subscriptions.c.id.in_(bindparam("ids", expanding=True))
)


async def update_delivery(tx: Tx, delivery_id: str, **values: Any) -> None:
    await tx.conn.execute(_UPDATE_DELIVERY, {**values, "_id": delivery_id})


# Built once (compiled once per set of columns).
_UPDATE_DELIVERY = update(deliveries).where(deliveries.c.id == bindparam("_id"))


def record_attempt(
    tx: Tx,
    delivery_id: str,
    *,
    status: str,
    attempts: int,
    attempted_at: datetime,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    """Record a delivery attempt's outcome (`status` pending again with `next_attempt_at`,
    delivered or dead). Deferred: the attempts that finish together (one group-commit
    round) are written with one statement at commit."""
    tx.defer(
        _RECORD_ATTEMPT,
        {
            "_id": delivery_id,
            "_status": status,
            "_attempts": attempts,
            "_attempted_at": attempted_at,
            "_status_code": status_code,
            "_error": error,
            "_next_attempt_at": next_attempt_at,
            "_delivered_at": attempted_at if status == "delivered" else None,
        },
    )


_RECORD_ATTEMPT = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("_id"))
    .values(
        status=bindparam("_status"),
        attempts=bindparam("_attempts"),
        last_attempt_at=bindparam("_attempted_at"),
        last_status_code=bindparam("_status_code"),
        last_error=bindparam("_error"),
        next_attempt_at=bindparam("_next_attempt_at"),
        delivered_at=bindparam("_delivered_at"),
    )
)


def _delivery(row: Any) -> SubscriptionDeliveryOut:
    return SubscriptionDeliveryOut.model_validate(dict(row._mapping))


async def get_delivery(conn: Conn, delivery_id: str) -> SubscriptionDeliveryOut | None:
    row = (await _c(conn).execute(select(deliveries).where(deliveries.c.id == delivery_id))).first()
    return _delivery(row) if row else None


async def list_deliveries(
    conn: Conn, subscription_id: str, status: str | None, limit: int
) -> list[SubscriptionDeliveryOut]:
    query = (
        select(deliveries)
        .where(deliveries.c.subscription_id == subscription_id)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id)
        .limit(limit)
    )
    if status:
        query = query.where(deliveries.c.status == status)
    return [_delivery(r) for r in (await _c(conn).execute(query)).all()]


# --- erasure ------------------------------------------------------------------------------


async def profile_json(tx: Tx, lead_id: str) -> dict[str, Any] | None:
    row = (await tx.conn.execute(select(leads.c.profile).where(leads.c.lead_id == lead_id))).first()
    return dict(row.profile) if row is not None else None


async def erase_lead(tx: Tx, lead_id: str, values: set[str]) -> int:
    """Take the person out of the lead's profile and explanations, its assignments' and
    opportunities' text, reps' notes on it, and the webhooks about it (sent or waiting:
    a waiting one goes out redacted). Ids, reps, times, counts and amounts stay."""
    changed = await erasure.redact_rows(
        tx,
        leads,
        leads.c.lead_id == lead_id,
        values,
        json_columns=("profile", "explanation"),
        text_columns=("return_reason",),
    )
    changed += await erasure.redact_rows(
        tx, assignments, assignments.c.lead_id == lead_id, values, json_columns=("explanation",)
    )
    changed += await erasure.redact_rows(
        tx, activities, activities.c.lead_id == lead_id, values, blank_columns=("note",)
    )
    changed += await erasure.redact_rows(
        tx,
        opportunities,
        opportunities.c.lead_id == lead_id,
        values,
        text_columns=("name", "reason"),
    )
    rows = (
        await tx.conn.execute(
            select(deliveries.c.id, deliveries.c.payload, deliveries.c.last_error).where(
                deliveries.c.lead_id == lead_id
            )
        )
    ).all()
    for row in rows:
        payload = erasure.redact_record(row.payload, values)
        last_error = erasure.scrub_text(row.last_error, values) if row.last_error else None
        if (payload, last_error) != (row.payload, row.last_error):
            await tx.conn.execute(
                update(deliveries)
                .where(deliveries.c.id == row.id)
                .values(payload=payload, last_error=last_error)
            )
            changed += 1
    from router.connectors import repository as connectors_repository

    changed += await connectors_repository.erase_lead(tx, lead_id, values)
    return changed


async def is_erased(tx: Tx, lead_id: str) -> bool:
    return await erasure.tombstoned(tx, erased, lead_id)


async def erased_among(tx: Tx, lead_ids: Collection[str]) -> set[str]:
    return await erasure.tombstoned_among(tx, erased, lead_ids)


async def put_tombstone(tx: Tx, lead_id: str, erasure_id: str) -> None:
    await erasure.put_tombstone(tx, erased, lead_id, erasure_id)
