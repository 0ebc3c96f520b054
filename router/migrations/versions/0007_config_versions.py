"""router: every change of a rule or a pool is a version, with who made it and when.

Rules and pools that exist already get a first version each (by `migration`), so the
history is complete from here on and a rollback can reach back to how things were.

Revision ID: router_0007
Revises: router_0006
"""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import BigId, Json, UTCDateTime

revision = "router_0007"
down_revision = "router_0006"
branch_labels = None
depends_on = None

RULE_FIELDS = ("name", "position", "conditions", "pool", "enabled")
POOL_FIELDS = (
    *("name", "strategy", "members", "teams", "outside_hours", "match_territory"),
    *("match_language", "owner_fallback", "sourced_leads", "sla"),
)


def upgrade() -> None:
    schema = target_schema()
    versions = op.create_table(
        "router_config_versions",
        sa.Column("version", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("object_id", sa.String(100), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("state", Json, nullable=True),
        sa.Column("restored_from", sa.BigInteger, nullable=True),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_by_name", sa.String(200), nullable=True),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        schema=schema,
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_router_config_versions_object",
        "router_config_versions",
        ["kind", "object_id", "version"],
        schema=schema,
    )
    bind = op.get_bind()
    meta = sa.MetaData(schema=schema)
    now = datetime.now(UTC)
    baseline: list[dict[str, Any]] = []
    for kind, name, fields in (
        ("pool", "router_pools", POOL_FIELDS),
        ("rule", "router_rules", RULE_FIELDS),
    ):
        table = sa.Table(name, meta, autoload_with=bind)
        for row in bind.execute(sa.select(table).order_by(table.c.id)).mappings():
            state = {f: row[f] for f in fields}
            baseline.append(
                {
                    "kind": kind,
                    "object_id": row["id"],
                    "action": "created",
                    "state": state,
                    "restored_from": None,
                    "changed_by": "migration",
                    "changed_by_name": "as it was before versioning",
                    "changed_at": now,
                }
            )
    if baseline:
        op.bulk_insert(versions, baseline)


def downgrade() -> None:
    op.drop_table("router_config_versions", schema=target_schema())
