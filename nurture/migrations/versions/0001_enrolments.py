"""nurture: enrolments.

Revision ID: nurture_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import UTCDateTime

revision = "nurture_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.create_table(
        "nurture_enrolments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("track", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("enrolled_at", UTCDateTime, nullable=False),
        sa.Column("next_touch_at", UTCDateTime, nullable=True),
        schema=schema,
    )
    op.create_index("ix_nurture_enrolments_lead", "nurture_enrolments", ["lead_id"], schema=schema)


def downgrade() -> None:
    op.drop_table("nurture_enrolments", schema=target_schema())
