"""Routing rules (each write a version: versions.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from router.config import ROUTING
from router.models import (
    rules,
)
from router.records import Changer, ConfigAction, ConfigVersion, RuleRecord, parsed
from router.repository import Conn
from router.repository import connection_of as _c
from router.repository.versions import RULE_FIELDS, record_version
from services.db import Tx
from services.reference import bump


def _rule(row: Any) -> RuleRecord:
    data = dict(row._mapping)
    data["conditions"] = data["conditions"] or {}
    return parsed(RuleRecord, data)


async def list_rules(conn: Conn) -> list[RuleRecord]:
    query = select(rules).order_by(rules.c.position, rules.c.id)
    return [_rule(r) for r in (await _c(conn).execute(query)).all()]


async def get_rule(conn: Conn, rule_id: str) -> RuleRecord | None:
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
    return await record_version(tx, "rule", rule_id, action, state, by, restored_from)


async def delete_rule(
    tx: Tx, rule_id: str, *, by: Changer, restored_from: int | None = None
) -> ConfigVersion | None:
    """Delete the rule, as a new version by `by`; None when there was no such rule."""
    result = await tx.conn.execute(delete(rules).where(rules.c.id == rule_id))
    await bump(tx, ROUTING)
    if not result.rowcount:
        return None
    return await record_version(tx, "rule", rule_id, "deleted", None, by, restored_from)
