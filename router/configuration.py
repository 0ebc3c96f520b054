"""Managing the routing configuration, what the pools' and rules' routes call: pools and
rules (each change a version, by the API key that made it), their history, the
configuration as of a version, and rollbacks (versions.py). The configuration routing reads
in memory is config.py's."""

from __future__ import annotations

from typing import Any

from router import repository, versions
from router.records import Changer, ConfigKind, ConfigVersion, PoolRecord, RuleRecord
from router.repository import Conn
from router.settings import RouterSettings
from services.db import Tx
from services.errors import Conflict, Invalid, NotFound

RESERVED_IDS = frozenset({"history"})


def _not_reserved(object_id: str) -> None:
    if object_id in RESERVED_IDS:
        raise Invalid("id", "reserved", f"{object_id!r} names the history; choose another id.")


class Configuration:
    """Pools and rules, and their versions (rules and pools share one sequence)."""

    def __init__(self, settings: RouterSettings) -> None:
        self.settings = settings

    # --- versions ---------------------------------------------------------------------------

    async def history(
        self, conn: Conn, kind: ConfigKind, object_id: str | None, limit: int
    ) -> list[ConfigVersion]:
        """Changes of the rules (or pools), newest first; of one of them with `object_id`."""
        return await repository.versions.config_history(conn, kind, object_id, limit)

    async def as_of(self, conn: Conn, kind: ConfigKind, version: int) -> dict[str, ConfigVersion]:
        """The rules (or pools) as they were right after `version`, by id."""
        latest = await repository.versions.latest_config_version(conn)
        if version > latest:
            raise NotFound(f"There is no version {version}; the latest is {latest}.")
        return await repository.versions.config_as_of(conn, kind, version)

    async def last_changes(self, conn: Conn, kind: ConfigKind) -> dict[str, ConfigVersion]:
        """Each rule's (or pool's) last change, by id."""
        return await repository.versions.config_as_of(conn, kind)

    async def rollback(
        self, tx: Tx, kind: ConfigKind, version: int, by: Changer, only: str | None
    ) -> list[ConfigVersion]:
        """Restore the rules (or pools, or one of them) as of `version` (versions.py)."""
        return await versions.rollback(
            tx, kind, version, by, default_pool=self.settings.default_pool, only=only
        )

    # --- pools ------------------------------------------------------------------------------

    async def pools(self, conn: Conn) -> list[PoolRecord]:
        return await repository.pools.list_pools(conn)

    async def pool(self, conn: Conn, pool_id: str) -> PoolRecord:
        pool = await repository.pools.get_pool(conn, pool_id)
        if pool is None:
            raise NotFound(f"There is no pool {pool_id!r}.")
        return pool

    async def put_pool(
        self, tx: Tx, pool_id: str, values: dict[str, Any], by: Changer
    ) -> tuple[PoolRecord, bool]:
        """Create or replace a pool (its fields as JSON; its members and teams must exist);
        the pool, and whether it is new."""
        _not_reserved(pool_id)
        members: list[str] = values["members"]
        known = {r.id for r in await repository.reps.reps_where(tx, ids=members)}
        unknown = [m for m in members if m not in known]
        if unknown:
            raise Invalid("members", "unknown reps", f"Unknown reps: {', '.join(unknown)}.")
        for index, team in enumerate(values["teams"]):
            if await repository.teams.get_team(tx, team) is None:
                raise Invalid(f"teams.{index}", "unknown team", f"There is no team {team!r}.")
        created = await repository.pools.get_pool(tx, pool_id) is None
        values = {**values, "name": values.get("name") or pool_id}
        await repository.pools.upsert_pool(tx, pool_id, values, by=by)
        return await self.pool(tx, pool_id), created

    async def delete_pool(self, tx: Tx, pool_id: str, by: Changer) -> None:
        if pool_id == self.settings.default_pool:
            raise Conflict(f"Pool {pool_id!r} is the default pool; it cannot be deleted.")
        using = await repository.pools.rules_using(tx, pool_id)
        if using:
            raise Conflict(f"Rules still route to pool {pool_id!r}: {', '.join(using)}.")
        if not await repository.pools.delete_pool(tx, pool_id, by=by):
            raise NotFound(f"There is no pool {pool_id!r}.")

    # --- rules ------------------------------------------------------------------------------

    async def rules(self, conn: Conn) -> list[RuleRecord]:
        """Every rule, in the order they are tried."""
        return await repository.rules.list_rules(conn)

    async def rule(self, conn: Conn, rule_id: str) -> RuleRecord:
        rule = await repository.rules.get_rule(conn, rule_id)
        if rule is None:
            raise NotFound(f"There is no rule {rule_id!r}.")
        return rule

    async def put_rule(
        self, tx: Tx, rule_id: str, values: dict[str, Any], by: Changer
    ) -> tuple[RuleRecord, bool]:
        """Create or replace a rule (its fields as JSON, without those it does not set; its
        pool must exist, or be the default pool); the rule, and whether it is new."""
        _not_reserved(rule_id)
        pool = values["pool"]
        if pool != self.settings.default_pool and await repository.pools.get_pool(tx, pool) is None:
            raise Invalid("pool", "unknown pool", f"There is no pool {pool!r}.")
        created = await repository.rules.get_rule(tx, rule_id) is None
        values = {**values, "name": values.get("name") or rule_id}
        await repository.rules.upsert_rule(tx, rule_id, values, by=by)
        return await self.rule(tx, rule_id), created

    async def delete_rule(self, tx: Tx, rule_id: str, by: Changer) -> None:
        if not await repository.rules.delete_rule(tx, rule_id, by=by):
            raise NotFound(f"There is no rule {rule_id!r}.")
