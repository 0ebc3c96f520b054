"""router: a webhook delivery keeps its event's trace context (services/tracing.py).

Revision ID: router_0006
Revises: router_0005
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema

revision = "router_0006"
down_revision = "router_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "router_webhook_deliveries",
        sa.Column("traceparent", sa.String(55), nullable=True),
        schema=target_schema(),
    )


def downgrade() -> None:
    with op.batch_alter_table("router_webhook_deliveries", schema=target_schema()) as batch:
        batch.drop_column("traceparent")
