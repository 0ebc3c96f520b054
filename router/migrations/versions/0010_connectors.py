"""router: connectors to reps' CRMs (router/connectors/): their configuration, their
deliveries, the CRM records Leadfarm wrote, the CRM activities taken in; reps' ids in
each CRM.

Revision ID: router_0010
Revises: router_0009
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "router_0010"
down_revision = "router_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.add_column(
        "router_reps",
        sa.Column("crm_owner_ids", Json, nullable=False, server_default=sa.text("'{}'")),
        schema=schema,
    )
    op.create_table(
        "router_connectors",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("settings", Json, nullable=False),
        sa.Column("credentials", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "router_connector_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("connector_id", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("last_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("connector_id", "event_id", name="uq_router_connector_delivery"),
        schema=schema,
    )
    op.create_index(
        "ix_router_connector_deliveries_due",
        "router_connector_deliveries",
        ["status", "next_attempt_at"],
        schema=schema,
    )
    op.create_index(
        "ix_router_connector_deliveries_connector",
        "router_connector_deliveries",
        ["connector_id", "created_at"],
        schema=schema,
    )
    op.create_table(
        "router_crm_records",
        sa.Column("connector_id", sa.String(100), primary_key=True),
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index(
        "ix_router_crm_records_record",
        "router_crm_records",
        ["connector_id", "record_id"],
        schema=schema,
    )
    op.create_table(
        "router_crm_activities",
        sa.Column("connector_id", sa.String(100), primary_key=True),
        sa.Column("external_id", sa.String(100), primary_key=True),
        sa.Column("activity_id", sa.String(36), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    op.drop_table("router_crm_activities", schema=schema)
    op.drop_table("router_crm_records", schema=schema)
    op.drop_table("router_connector_deliveries", schema=schema)
    op.drop_table("router_connectors", schema=schema)
    with op.batch_alter_table("router_reps", schema=schema) as batch:
        batch.drop_column("crm_owner_ids")
