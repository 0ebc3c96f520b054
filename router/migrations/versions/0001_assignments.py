"""router: reps, assignments, round-robin cursors, activities.

Revision ID: router_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import UTCDateTime

revision = "router_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.create_table(
        "router_reps",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "router_assignments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36), nullable=False, unique=True),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pool", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("first_touch_due_at", UTCDateTime, nullable=True),
        sa.Column("touched_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_router_assignments_rep", "router_assignments", ["rep_id"], schema=schema)
    op.create_table(
        "router_cursors",
        sa.Column("pool", sa.String(100), primary_key=True),
        sa.Column("last_rep_id", sa.String(64), nullable=False),
        schema=schema,
    )
    op.create_table(
        "router_activities",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_router_activities_lead", "router_activities", ["lead_id"], schema=schema)


def downgrade() -> None:
    schema = target_schema()
    for table in ("router_activities", "router_cursors", "router_assignments", "router_reps"):
        op.drop_table(table, schema=schema)
