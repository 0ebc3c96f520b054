"""router: deliveries indexed per queue (status, subscription or connector, due time), so a
claim seeks each subscription's or connector's oldest due deliveries instead of reading
past those of the ones whose share is running (services/statements.py,
`oldest_due_per_queue`).

Revision ID: router_0014
Revises: router_0013
"""

from alembic import op

from services.migrate import target_schema

revision = "router_0014"
down_revision = "router_0013"
branch_labels = None
depends_on = None

_QUEUES = {
    "router_webhook_deliveries": ("ix_router_deliveries_queue", "subscription_id"),
    "router_connector_deliveries": ("ix_router_connector_deliveries_queue", "connector_id"),
}


def upgrade() -> None:
    schema = target_schema()
    for table, (index, key) in _QUEUES.items():
        op.create_index(
            index, table, ["status", key, "next_attempt_at", "created_at"], schema=schema
        )


def downgrade() -> None:
    schema = target_schema()
    for table, (index, _) in _QUEUES.items():
        op.drop_index(index, table_name=table, schema=schema)
