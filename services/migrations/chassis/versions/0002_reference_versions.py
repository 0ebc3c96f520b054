"""Reference-data versions: a row per (service, name), bumped in the same transaction as a
change to that reference data, so every process knows when its in-memory copy is stale.

Revision ID: chassis_0002
Revises: chassis_0001
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema

revision = "chassis_0002"
down_revision = "chassis_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_versions",
        sa.Column("service", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        schema=target_schema(),
    )


def downgrade() -> None:
    op.drop_table("reference_versions", schema=target_schema())
