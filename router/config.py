"""The router's reference data in memory: what routing reads for every lead and what
changes a few times a day (rules, pools, reps, teams' holidays, account owners, webhook
subscriptions, connectors).

It is one `Reference` (services/reference.py) named `routing`: every write of those tables
in router/repository/ bumps its version in the same transaction, and a routing batch asks
for the current copy once (one version read; a reload only after a change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from router.connectors.base import ConnectorConfig
from router.distribution import RepView
from router.records import PoolRecord, RepRecord, RuleRecord
from router.rules import enabled_in_order
from services.holidays import Holidays

ROUTING = "routing"
"""The version name bumped by every change of routing configuration."""


@dataclass(frozen=True)
class Subscriber:
    """An active webhook subscription, as routing needs it to queue deliveries."""

    id: str
    event_types: tuple[str, ...]
    rep_id: str | None
    url: str
    secret: str
    """Sealed (services/crypto.py), as stored."""


@dataclass(frozen=True)
class RoutingConfig:
    rules: tuple[RuleRecord, ...]
    """Enabled rules, in order."""
    pools: dict[str, PoolRecord]
    reps: dict[str, RepRecord]
    holidays: dict[str, Holidays]
    """Team id -> its days off (its country's public holidays and its own)."""
    account_owners: dict[str, str]
    """Company domain -> the rep who owns the account."""
    subscribers: tuple[Subscriber, ...]
    connectors: tuple[ConnectorConfig, ...]
    """Connectors to reps' CRMs (router/connectors/), credentials sealed as stored."""
    views: dict[str, RepView]
    """Rep id -> the rep as routing sees them, calendar included (built once per version:
    a calendar keeps the days it has worked out)."""

    def reps_where(self, ids: Sequence[str] = (), team_ids: Sequence[str] = ()) -> list[RepRecord]:
        """Reps with one of `ids` or on one of `team_ids`; with neither, every rep (by id)."""
        if not ids and not team_ids:
            return [self.reps[i] for i in sorted(self.reps)]
        wanted, teams = set(ids), set(team_ids)
        return [
            self.reps[i]
            for i in sorted(self.reps)
            if i in wanted or (self.reps[i].team_id is not None and self.reps[i].team_id in teams)
        ]


async def load(conn: AsyncConnection) -> RoutingConfig:
    from router import repository
    from router.connectors import repository as connectors_repository
    from services.db import ReadConn

    read = ReadConn(conn)
    from router.decisions import view_of

    reps = await repository.reps.list_reps(read)
    teams = await repository.teams.list_teams(read)
    holidays = {t.id: t.days_off() for t in teams}
    return RoutingConfig(
        rules=tuple(enabled_in_order(await repository.rules.list_rules(read))),
        pools={p.id: p for p in await repository.pools.list_pools(read)},
        reps={r.id: r for r in reps},
        holidays=holidays,
        account_owners={a.domain: a.rep_id for a in await repository.accounts.list_accounts(read)},
        subscribers=tuple(
            Subscriber(s.id, tuple(s.event_types), s.rep_id, s.url, s.secret)
            for s in await repository.subscriptions.list_subscriptions(read, active_only=True)
        ),
        connectors=tuple(
            c.config
            for c in await connectors_repository.connectors.list_connectors(read, active_only=True)
        ),
        views={r.id: view_of(r, holidays.get(r.team_id or "", Holidays())) for r in reps},
    )
