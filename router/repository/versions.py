"""Versions of rules and pools: every change recorded with who made it, the history, and
the configuration as of a version."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from router.models import (
    config_versions,
)
from router.records import Changer, ConfigAction, ConfigKind, ConfigVersion
from router.repository import Conn
from router.repository import connection_of as _c
from services.db import Tx

RULE_FIELDS = ("name", "position", "conditions", "pool", "enabled")


POOL_FIELDS = (
    *("name", "strategy", "members", "teams", "outside_hours", "match_territory"),
    *("match_language", "owner_fallback", "sourced_leads", "sla"),
)


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


async def record_version(
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
