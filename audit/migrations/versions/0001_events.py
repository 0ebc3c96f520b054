"""audit: the event archive.

Revision ID: audit_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import BigId, Json, UTCDateTime

revision = "audit_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.create_table(
        "audit_events",
        sa.Column("position", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("envelope", Json, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_audit_events_lead", "audit_events", ["lead_id", "time"], schema=schema)


def downgrade() -> None:
    op.drop_table("audit_events", schema=target_schema())
