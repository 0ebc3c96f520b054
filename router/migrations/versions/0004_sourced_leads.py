"""router: a pool's policy for leads a rep sourced (they stay with that rep by default).

Revision ID: router_0004
Revises: router_0003
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema

revision = "router_0004"
down_revision = "router_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "router_pools",
        sa.Column("sourced_leads", sa.String(16), nullable=False, server_default="sourcing_rep"),
        schema=target_schema(),
    )


def downgrade() -> None:
    with op.batch_alter_table("router_pools", schema=target_schema()) as batch:
        batch.drop_column("sourced_leads")
