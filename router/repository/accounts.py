"""Account owners: the rep who owns a company's domain (account_owner_first pools)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update

from router.config import ROUTING
from router.models import (
    accounts,
)
from router.records import AccountRecord, parsed
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx
from services.reference import bump


def _account(row: Any) -> AccountRecord:
    return parsed(AccountRecord, row._mapping)


async def account_owner(conn: Conn, domain: str) -> str | None:
    owner: str | None = await _c(conn).scalar(
        select(accounts.c.rep_id).where(accounts.c.domain == domain)
    )
    return owner


async def list_accounts(conn: Conn) -> list[AccountRecord]:
    rows = (await _c(conn).execute(select(accounts).order_by(accounts.c.domain))).all()
    return [_account(r) for r in rows]


async def get_account(conn: Conn, domain: str) -> AccountRecord | None:
    row = (await _c(conn).execute(select(accounts).where(accounts.c.domain == domain))).first()
    return _account(row) if row else None


async def accounts_in(conn: Conn, domains: Sequence[str]) -> dict[str, AccountRecord]:
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
