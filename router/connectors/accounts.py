"""Account owners from the CRM, on a schedule (issue 16, item 3).

For every active connector whose kind `SyncsAccounts` and whose settings say
`sync_accounts: true`, the `AccountSyncWorker` asks the vendor for the accounts changed
since the connector's cursor, a page at a time, every `sync_interval_minutes`, and writes
their owners as `PUT /router/v1/accounts/{domain}` does (`repository.accounts.upsert_account`,
which bumps the routing configuration's version, so the next lead on every replica routes
by it).

- **Durable and leased.** Each connector's sync is a row (`router_account_syncs`): its
  cursor, when it is due, and the lease of the replica running it (`next_run_at` moves to
  the lease's end, `FOR UPDATE SKIP LOCKED` on PostgreSQL, as the connector worker leases
  deliveries), so two replicas never run one connector's sync at once and a restart picks
  it up where the last committed page left it: each page's owners and the cursor after it
  are written in one transaction, which also renews the lease and checks it still holds.
- **Who owns an account.** The rep whose `crm_owner_ids[kind]` is the account's owner id.
  An owner no rep has is not guessed: the account is recorded as unmatched (listed in the
  status with its owner id) and given to the rep the moment one has that id (each run
  tries the unmatched again first). An account whose owner changed in the CRM moves.
- **The CRM wins over a hand-set owner** of a domain it names with a rep: the account's
  `source` becomes `connector`. A hand-set owner stays while the CRM names no rep for the
  domain (no owner, or an unmatched one); an owner the connector itself synced is removed
  then, since the CRM no longer says that rep owns it.
- **Failures.** A `VendorError` (or an unreachable vendor) ends the run with the vendor's
  answer in the status; it is run again with exponential backoff (30 s, 1 min, 2 min, ...
  at most the interval or the vendor's Retry-After), from the last committed cursor.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from contracts.ids import new_id
from router import metrics
from router import repository as router_repository
from router.config import RoutingConfig
from router.connectors import KINDS, repository
from router.connectors.base import (
    AccountSyncSettings,
    Connector,
    ConnectorConfig,
    CrmAccount,
    SyncsAccounts,
    VendorError,
)
from router.connectors.records import AccountSync, AccountSyncStatus
from router.connectors.worker import open_target
from router.records import AccountRecord
from router.repository import Conn
from router.settings import RouterSettings
from services.crypto import SecretBox
from services.db import Tx, UnitOfWork
from services.egress import PrivateAddress, check_public
from services.outbound import OutboundClient
from services.reference import Reference
from services.workpool import KeyedPool, LeasingWorker

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
"""A run's hold on its connector, renewed with every page."""
FIRST_BACKOFF_S = 30.0
POLL_INTERVAL_S = 15.0
"""How often a replica looks for due syncs (a `POST .../accounts-sync` wakes it at once)."""
RUNS_AT_ONCE = 2
COUNTS = (
    "read",
    "added",
    "moved",
    "unchanged",
    "unmatched",
    "no_owner",
    "no_domain",
    "removed",
    "rematched",
)


@dataclass(frozen=True)
class Plan:
    """A connector whose accounts are synced, and how often."""

    connector: ConnectorConfig
    interval: timedelta


def plan_of(connector: ConnectorConfig) -> Plan | None:
    """The connector's sync plan; None when it is inactive, its kind has no accounts, or
    its settings leave the sync off."""
    kind = KINDS.get(connector.kind)
    if not connector.active or not isinstance(kind, SyncsAccounts):
        return None
    enabled, minutes = sync_settings(kind, connector)
    return Plan(connector, timedelta(minutes=minutes)) if enabled else None


def sync_settings(kind: Connector | None, connector: ConnectorConfig) -> tuple[bool, int]:
    """`sync_accounts` and `sync_interval_minutes` of the connector's settings: a kind's
    settings model inherits them from `AccountSyncSettings` (read by name, so a model that
    declares them itself works alike)."""
    defaults = AccountSyncSettings()
    if kind is None or not isinstance(kind, SyncsAccounts):
        return False, defaults.sync_interval_minutes
    settings = kind.settings_model.model_validate(connector.settings)
    return (
        bool(getattr(settings, "sync_accounts", defaults.sync_accounts)),
        int(getattr(settings, "sync_interval_minutes", defaults.sync_interval_minutes)),
    )


def plans(config: RoutingConfig) -> dict[str, Plan]:
    found = {c.id: plan_of(c) for c in config.connectors}
    return {cid: p for cid, p in found.items() if p is not None}


def owners_to_reps(config: RoutingConfig, kind: str) -> dict[str, str]:
    """A CRM owner id -> the rep whose `crm_owner_ids[kind]` it is."""
    return {
        owner: rep.id
        for rep in sorted(config.reps.values(), key=lambda r: r.id)
        if (owner := rep.crm_owner_ids.get(kind))
    }


async def apply_accounts(
    tx: Tx,
    connector: ConnectorConfig,
    owners: Mapping[str, str],
    accounts: Sequence[CrmAccount],
    counts: Counter[str],
) -> None:
    """Write one page of the CRM's accounts as account owners (see the module's rules)."""
    now = tx.now()
    existing = await router_repository.accounts.accounts_in(
        tx, [a.domain for a in accounts if _usable(a.domain)]
    )
    matched: list[str] = []
    for account in accounts:
        counts["read"] += 1
        if not _usable(account.domain):
            counts["no_domain"] += 1
            continue
        current = existing.get(account.domain)
        ours = (
            current is not None
            and current.source == "connector"
            and current.connector_id == connector.id
        )
        rep_id = owners.get(account.owner_id) if account.owner_id else None
        if rep_id is None:
            counts["unmatched" if account.owner_id else "no_owner"] += 1
            await repository.account_syncs.mark_unmatched(
                tx,
                connector.id,
                account.domain,
                account.owner_id[:100] if account.owner_id else None,
                account.external_id[:100],
                account.name,
                now,
            )
            if ours:
                await router_repository.accounts.delete_account(tx, account.domain)
                existing.pop(account.domain)
                counts["removed"] += 1
            continue
        matched.append(account.domain)
        if ours and current is not None and current.rep_id == rep_id:
            counts["unchanged"] += 1
            continue
        await router_repository.accounts.upsert_account(
            tx,
            account.domain,
            rep_id,
            connector_id=connector.id,
            external_id=account.external_id[:100],
        )
        counts["moved" if current is not None else "added"] += 1
        existing[account.domain] = AccountRecord(
            domain=account.domain,
            rep_id=rep_id,
            created_at=current.created_at if current is not None else now,
            updated_at=now,
            source="connector",
            connector_id=connector.id,
            external_id=account.external_id[:100],
        )
    await repository.account_syncs.clear_unmatched(tx, connector.id, matched)


def _usable(domain: str) -> bool:
    """A domain the accounts table can hold and a lead's domain can equal."""
    return 0 < len(domain) <= 253 and not any(c.isspace() or c in "/@" for c in domain)


async def rematch(
    tx: Tx, connector: ConnectorConfig, owners: Mapping[str, str], counts: Counter[str]
) -> None:
    """Accounts left unmatched by earlier runs whose owner is now a rep's: theirs now."""
    accounts = await repository.account_syncs.unmatched_of(tx, connector.id, list(owners))
    if not accounts:
        return
    # Counted when the CRM sent them; here only as the unmatched that found their rep.
    written: Counter[str] = Counter()
    await apply_accounts(tx, connector, owners, accounts, written)
    counts["rematched"] += written["added"] + written["moved"]


def backoff(attempts: int, interval: timedelta, retry_after_s: float | None) -> timedelta:
    """30 s, 1 min, 2 min, ... never past the interval, never before the vendor's
    Retry-After."""
    wait = min(FIRST_BACKOFF_S * 2 ** (attempts - 1), interval.total_seconds())
    return timedelta(seconds=max(wait, retry_after_s or 0.0))


class LostLease(Exception):
    """Another replica took the sync over (this run's lease ran out)."""


class AccountSyncWorker(LeasingWorker):
    """Runs each connector's account sync when it is due, one replica at a time."""

    name = "account-sync"

    def __init__(
        self,
        unit: UnitOfWork,
        settings: RouterSettings,
        routing: Reference[RoutingConfig],
        box: SecretBox,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        super().__init__(KeyedPool("account-sync", limit=RUNS_AT_ONCE, per_key=1), poll_interval_s)
        self.unit = unit
        self.settings = settings
        self.routing = routing
        self.box = box
        self.transport = transport

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = OutboundClient(
                deadline_s=self.settings.webhook_timeout_s,
                user_agent="leadfarm-router-account-sync",
                transport=self.transport,
            )
        return self._http

    async def _start_due(self) -> int:
        self.held_back = False
        if self.pool.free <= 0:
            return 0
        async with self.unit.read() as conn:
            config = await self.routing.current(conn)
            wanted = plans(config)
            running = set(self.pool.in_flight())
            ids = [c for c in wanted if c not in running]
            if not ids:
                return 0
            now = self.unit.clock.now()
            due = await repository.account_syncs.sync_due_times(conn, ids)
            missing = sorted(set(ids) - set(due))
            if not missing and not any(at is not None and at <= now for at in due.values()):
                return 0
        async with self.unit.transaction() as tx:
            now = tx.now()
            if missing:
                await repository.account_syncs.ensure_syncs(tx, missing, now)
            claimed = await repository.account_syncs.claim_syncs(
                tx, ids, now, now + LEASE, self.pool.free, new_id()
            )
            for run in claimed:
                await repository.account_syncs.start_run(tx, run.connector_id, now)
        for run in claimed:
            self.pool.start(run.connector_id, self._run(wanted[run.connector_id], run))
        return len(claimed)

    async def _run(self, plan: Plan, run: repository.account_syncs.SyncRun) -> None:
        connector = plan.connector
        counts: Counter[str] = Counter({name: 0 for name in COUNTS})
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        kind = KINDS[connector.kind]
        assert isinstance(kind, SyncsAccounts)
        try:
            target = open_target(connector, self.box)
            base = KINDS[connector.kind].api_base_url(target.settings)
            if base and not self.settings.allow_private_webhook_urls:
                await check_public(base)
            cursor = run.cursor
            async with self.unit.transaction() as tx:
                if not await repository.account_syncs.holds_lease(tx, connector.id, run.lease_id):
                    raise LostLease
                owners = owners_to_reps(await self.routing.current(tx), connector.kind)
                await rematch(tx, connector, owners, counts)
            while True:
                asked = cursor
                page = await kind.accounts(cursor, target, self.http())
                async with self.unit.transaction() as tx:
                    if not await repository.account_syncs.holds_lease(
                        tx, connector.id, run.lease_id
                    ):
                        raise LostLease
                    owners = owners_to_reps(await self.routing.current(tx), connector.kind)
                    await apply_accounts(tx, connector, owners, page.accounts, counts)
                    cursor = page.next_cursor or cursor
                    await repository.account_syncs.save_cursor(
                        tx, connector.id, cursor, tx.now() + LEASE
                    )
                if page.next_cursor is None or page.next_cursor == asked:
                    break  # the pass is over (or the vendor gives no way forward)
        except LostLease:
            log.warning("account sync of connector %s was taken over; stopping", connector.id)
            return
        except VendorError as exc:
            status, error, retry_after = exc.status, exc.message[:2000], exc.retry_after_s
        except PrivateAddress as exc:
            error = f"refused: {exc} (LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS is off)"
        except httpx.HTTPError as exc:
            error = f"{connector.kind} could not be reached: {type(exc).__name__}"
        except Exception as exc:  # noqa: BLE001 - recorded on the sync, retried with backoff
            # Only the type: an error about the opened credentials may quote them.
            log.warning(
                "account sync of connector %s failed unexpectedly: %s",
                connector.id,
                type(exc).__name__,
            )
            error = f"unexpected {type(exc).__name__}; see the router's log"
        result = "failed" if error else "synced"
        async with self.unit.transaction() as tx:
            now = tx.now()
            attempts = run.attempts + 1 if error else 0
            await repository.account_syncs.end_run(
                tx,
                connector.id,
                run.lease_id,
                next_run_at=now
                + (backoff(attempts, plan.interval, retry_after) if error else plan.interval),
                attempts=attempts,
                finished_at=None if error else now,
                status_code=status,
                error=error,
                counts=dict(counts),
            )
        metrics.ACCOUNT_SYNC_RUNS.labels(connector.id, connector.kind, result).inc()
        for outcome, n in counts.items():
            if n:
                metrics.ACCOUNT_SYNC_ACCOUNTS.labels(connector.id, connector.kind, outcome).inc(n)
        if error:
            log.warning(
                "account sync of connector %s failed (attempt %d), retried later: %s",
                connector.id,
                run.attempts + 1,
                error,
            )


async def status_of(conn: Conn, connector: ConnectorConfig, now: datetime) -> AccountSyncStatus:
    """A connector's account sync at `now`, as `GET .../accounts-sync` shows it."""
    plan = plan_of(connector)
    _, minutes = sync_settings(KINDS.get(connector.kind), connector)
    sync = await repository.account_syncs.get_sync(conn, connector.id)
    sync = sync or AccountSync(connector.id)
    next_run_at = sync.next_run_at
    return AccountSyncStatus(
        connector_id=connector.id,
        enabled=plan is not None,
        interval_minutes=minutes,
        running=bool(sync.lease_id) and next_run_at is not None and next_run_at > now,
        cursor=sync.cursor,
        next_run_at=next_run_at if plan is not None else None,
        last_started_at=sync.last_started_at,
        last_finished_at=sync.last_finished_at,
        last_attempt_at=sync.last_attempt_at,
        attempts=sync.attempts,
        last_status_code=sync.last_status_code,
        last_error=sync.last_error,
        counts=sync.counts,
        unmatched_owners=await repository.account_syncs.unmatched_owners(conn, connector.id),
    )
