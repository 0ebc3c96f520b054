"""Chassis tables: outbox, inbox, timers, embedded offsets.

Revision ID: chassis_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import BigId, UTCDateTime

revision = "chassis_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("headers", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=True),
        schema=schema,
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["service", "id"],
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_index("ix_outbox_topic_id", "outbox", ["topic", "id"], schema=schema)
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("handled_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "timers",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("fired_at", UTCDateTime, nullable=True),
        schema=schema,
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_timers_due",
        "timers",
        ["service", "due_at"],
        schema=schema,
        postgresql_where=sa.text("fired_at IS NULL"),
    )
    op.create_index("ix_timers_key", "timers", ["service", "kind", "key"], schema=schema)
    op.create_table(
        "embedded_offsets",
        sa.Column("group_id", sa.String(128), primary_key=True),
        sa.Column("position", BigId, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    for table in ("embedded_offsets", "timers", "inbox", "outbox"):
        op.drop_table(table, schema=schema)
