"""Erasure tombstones, one table for every service (they were `<service>_erased`; each
service's own migration moves its rows here and drops its table, after this one: the
chassis stream runs before the service streams, services/migrate.py `streams_for`).

Revision ID: chassis_0003
Revises: chassis_0002
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import UTCDateTime

revision = "chassis_0003"
down_revision = "chassis_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tombstones",
        sa.Column("service", sa.String(32), primary_key=True),
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("erasure_id", sa.String(64), nullable=False),
        sa.Column("erased_at", UTCDateTime, nullable=False),
        schema=target_schema(),
    )


def downgrade() -> None:
    op.drop_table("tombstones", schema=target_schema())
