"""Versions of rules and pools: every change is a version (router/repository/versions.py writes it
with the change, by the API key that made it), and a rollback restores the rules (or the
pools, or one of them) as they were right after an earlier version.

Rules and pools share one sequence of version numbers, so a number names a moment of the
whole routing configuration: "the rules as of version 12" and "the pools as of version 12"
are what routing used then. A rollback is itself a change: each rule or pool it puts back
(or creates, or deletes) is a new version by whoever asked, with `restored_from` naming the
version restored. Like every change it bumps the routing configuration's version in the
same transaction, so every replica routes the next lead by the restored rules.
"""

from __future__ import annotations

from typing import Any

from router import repository
from router.records import Changer, ConfigKind, ConfigVersion
from services.db import Tx
from services.errors import Conflict, NotFound


async def rollback(
    tx: Tx,
    kind: ConfigKind,
    version: int,
    by: Changer,
    *,
    default_pool: str,
    only: str | None = None,
) -> list[ConfigVersion]:
    """Restore the rules (or pools) as of `version`; with `only`, that one alone. Returns
    the new versions (none when nothing differs). Refuses (409) a restore that would leave
    a rule routing to a missing pool, or a pool naming a team that is gone."""
    latest = await repository.versions.latest_config_version(tx)
    if not 1 <= version <= latest:
        raise NotFound(f"There is no version {version}; the latest is {latest}.")
    then = await repository.versions.config_as_of(tx, kind, version)
    now = await repository.versions.config_as_of(tx, kind, latest)
    ids = sorted(then.keys() | now.keys())
    if only is not None:
        if only not in ids:
            raise NotFound(f"There is no {kind} {only!r} then or now.")
        ids = [only]
    changes: list[ConfigVersion] = []
    for object_id in ids:
        target = then[object_id].state if object_id in then else None
        current = now[object_id].state if object_id in now else None
        if target == current:
            continue
        if kind == "rule":
            changes.append(await _restore_rule(tx, object_id, target, version, by, default_pool))
        else:
            changes.append(await _restore_pool(tx, object_id, target, version, by, default_pool))
    return changes


async def _restore_rule(
    tx: Tx,
    rule_id: str,
    state: dict[str, Any] | None,
    version: int,
    by: Changer,
    default_pool: str,
) -> ConfigVersion:
    if state is None:
        deleted = await repository.rules.delete_rule(tx, rule_id, by=by, restored_from=version)
        assert deleted is not None  # it exists now: it differs from what it was
        return deleted
    pool = str(state["pool"])
    if pool != default_pool and await repository.pools.get_pool(tx, pool) is None:
        raise Conflict(
            f"Rule {rule_id!r} as of version {version} routes to pool {pool!r}, which no "
            "longer exists; restore the pools first (POST /router/v1/pools:rollback).",
        )
    return await repository.rules.upsert_rule(tx, rule_id, state, by=by, restored_from=version)


async def _restore_pool(
    tx: Tx,
    pool_id: str,
    state: dict[str, Any] | None,
    version: int,
    by: Changer,
    default_pool: str,
) -> ConfigVersion:
    if state is None:
        if pool_id == default_pool:
            raise Conflict(f"Pool {pool_id!r} is the default pool; it cannot be deleted.")
        using = await repository.pools.rules_using(tx, pool_id)
        if using:
            raise Conflict(
                f"Pool {pool_id!r} did not exist as of version {version}, but rules route to "
                f"it now: {', '.join(using)}; restore the rules first "
                "(POST /router/v1/rules:rollback).",
            )
        deleted = await repository.pools.delete_pool(tx, pool_id, by=by, restored_from=version)
        assert deleted is not None  # it exists now: it differs from what it was
        return deleted
    teams = [str(t) for t in state.get("teams") or []]
    gone = [t for t in teams if await repository.teams.get_team(tx, t) is None]
    if gone:
        raise Conflict(
            f"Pool {pool_id!r} as of version {version} names teams that no longer exist: "
            f"{', '.join(gone)}.",
        )
    return await repository.pools.upsert_pool(tx, pool_id, state, by=by, restored_from=version)
