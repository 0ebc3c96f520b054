"""Account syncs: one leased row per connector, its cursor and runs, and the CRM owners
no rep matched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from router.connectors.base import CrmAccount
from router.connectors.records import AccountSync, UnmatchedOwner
from router.models import (
    account_sync_unmatched,
    account_syncs,
)
from router.records import parsed
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx
from services.statements import insert_ignoring, upsert


@dataclass(frozen=True)
class SyncRun:
    """A connector's account sync, leased for one run."""

    connector_id: str
    lease_id: str
    cursor: str | None
    attempts: int


async def ensure_syncs(tx: Tx, connector_ids: Sequence[str], now: datetime) -> None:
    """A sync row, due now, for each connector that has none yet."""
    if not connector_ids:
        return
    await tx.conn.execute(
        insert_ignoring(account_syncs, tx.conn.dialect.name),
        [
            {"connector_id": c, "next_run_at": now, "attempts": 0, "counts": {}, "created_at": now}
            for c in connector_ids
        ],
    )


async def sync_due_times(conn: Conn, connector_ids: Sequence[str]) -> dict[str, datetime | None]:
    """When each of the connectors' syncs is due (a running one: when its lease ends);
    a connector with no sync row yet is not in the answer."""
    rows = await _c(conn).execute(
        select(account_syncs.c.connector_id, account_syncs.c.next_run_at).where(
            account_syncs.c.connector_id.in_(list(connector_ids))
        )
    )
    return {r.connector_id: r.next_run_at for r in rows}


async def claim_syncs(
    tx: Tx,
    connector_ids: Sequence[str],
    now: datetime,
    lease_until: datetime,
    limit: int,
    lease_id: str,
) -> list[SyncRun]:
    """Lease the due syncs of `connector_ids` (a running sync's lease is its
    `next_run_at`, so it is not due; replicas skip each other's rows on PostgreSQL)."""
    c = account_syncs.c
    query = (
        select(c.connector_id, c.cursor, c.attempts)
        .where(c.connector_id.in_(list(connector_ids)), c.next_run_at <= now)
        .order_by(c.next_run_at)
        .limit(limit)
    )
    if tx.conn.dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    rows = (await tx.conn.execute(query)).all()
    if not rows:
        return []
    await tx.conn.execute(
        update(account_syncs)
        .where(c.connector_id.in_([r.connector_id for r in rows]))
        .values(next_run_at=lease_until, lease_id=lease_id, last_attempt_at=now)
    )
    return [SyncRun(r.connector_id, lease_id, r.cursor, r.attempts) for r in rows]


async def holds_lease(tx: Tx, connector_id: str, lease_id: str) -> bool:
    """Whether this run still holds the sync (locked until the transaction ends)."""
    query = select(account_syncs.c.lease_id).where(account_syncs.c.connector_id == connector_id)
    if tx.conn.dialect.name != "sqlite":
        query = query.with_for_update()
    return bool(await tx.conn.scalar(query) == lease_id)


async def save_cursor(tx: Tx, connector_id: str, cursor: str | None, lease_until: datetime) -> None:
    await tx.conn.execute(
        update(account_syncs)
        .where(account_syncs.c.connector_id == connector_id)
        .values(cursor=cursor, next_run_at=lease_until)
    )


async def end_run(
    tx: Tx,
    connector_id: str,
    lease_id: str,
    *,
    next_run_at: datetime,
    attempts: int,
    finished_at: datetime | None,
    status_code: int | None,
    error: str | None,
    counts: dict[str, int],
) -> None:
    values: dict[str, Any] = {
        "next_run_at": next_run_at,
        "lease_id": None,
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error": error,
        "counts": counts,
    }
    if finished_at is not None:
        values["last_finished_at"] = finished_at
    await tx.conn.execute(
        update(account_syncs)
        .where(account_syncs.c.connector_id == connector_id, account_syncs.c.lease_id == lease_id)
        .values(values)
    )


async def start_run(tx: Tx, connector_id: str, now: datetime) -> None:
    await tx.conn.execute(
        update(account_syncs)
        .where(account_syncs.c.connector_id == connector_id)
        .values(last_started_at=now)
    )


async def get_sync(conn: Conn, connector_id: str) -> AccountSync | None:
    row = (
        await _c(conn).execute(
            select(account_syncs).where(account_syncs.c.connector_id == connector_id)
        )
    ).first()
    return parsed(AccountSync, dict(row._mapping)) if row else None


async def request_sync(tx: Tx, connector_id: str, now: datetime, *, full: bool) -> None:
    """Make the sync due now (from the start when `full`)."""
    await ensure_syncs(tx, [connector_id], now)
    values: dict[str, Any] = {"next_run_at": now, "attempts": 0}
    if full:
        values["cursor"] = None
    await tx.conn.execute(
        update(account_syncs).where(account_syncs.c.connector_id == connector_id).values(values)
    )


async def mark_unmatched(
    tx: Tx,
    connector_id: str,
    domain: str,
    owner_id: str | None,
    external_id: str,
    name: str | None,
    now: datetime,
) -> None:
    statement = upsert(
        account_sync_unmatched,
        tx.conn.dialect.name,
        ("connector_id", "domain", "owner_id", "external_id", "name", "seen_at"),
        ("connector_id", "domain"),
    )
    await tx.conn.execute(
        statement,
        {
            "connector_id": connector_id,
            "domain": domain,
            "owner_id": owner_id,
            "external_id": external_id,
            "name": name[:300] if name else None,
            "seen_at": now,
        },
    )


async def clear_unmatched(tx: Tx, connector_id: str, domains: Sequence[str]) -> None:
    if domains:
        await tx.conn.execute(
            delete(account_sync_unmatched).where(
                account_sync_unmatched.c.connector_id == connector_id,
                account_sync_unmatched.c.domain.in_(list(domains)),
            )
        )


async def unmatched_of(conn: Conn, connector_id: str, owner_ids: Sequence[str]) -> list[CrmAccount]:
    """The connector's accounts whose owner is one of `owner_ids` (and no rep's when they
    were read), as the CRM had them."""
    u = account_sync_unmatched.c
    query = (
        select(account_sync_unmatched)
        .where(u.connector_id == connector_id, u.owner_id.in_(list(owner_ids)))
        .order_by(u.owner_id, u.domain)
    )
    return [
        CrmAccount(external_id=r.external_id, domain=r.domain, owner_id=r.owner_id, name=r.name)
        for r in (await _c(conn).execute(query)).all()
    ]


async def unmatched_owners(
    conn: Conn, connector_id: str, owners: int = 100, domains: int = 10
) -> list[UnmatchedOwner]:
    """The CRM owners with the most unmatched accounts (how many, some of their domains),
    at most `owners` of them."""
    u = account_sync_unmatched.c
    counted = (
        await _c(conn).execute(
            select(u.owner_id, func.count().label("n"))
            .where(u.connector_id == connector_id, u.owner_id.is_not(None))
            .group_by(u.owner_id)
            .order_by(func.count().desc(), u.owner_id)
            .limit(owners)
        )
    ).all()
    found: list[UnmatchedOwner] = []
    for row in counted:
        some = await _c(conn).scalars(
            select(u.domain)
            .where(u.connector_id == connector_id, u.owner_id == row.owner_id)
            .order_by(u.domain)
            .limit(domains)
        )
        found.append(UnmatchedOwner(row.owner_id, int(row.n), list(some)))
    return found
