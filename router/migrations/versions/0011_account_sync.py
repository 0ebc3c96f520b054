"""router: account owners synced from a CRM (router/connectors/accounts.py): where each
account owner came from, each connector's sync (its cursor, lease and last run), and the
CRM accounts whose owner is no rep.

Revision ID: router_0011
Revises: router_0010
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "router_0011"
down_revision = "router_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("router_accounts", schema=schema) as batch:
        batch.add_column(
            sa.Column("source", sa.String(16), nullable=False, server_default="manual")
        )
        batch.add_column(sa.Column("connector_id", sa.String(100), nullable=True))
        batch.add_column(sa.Column("external_id", sa.String(100), nullable=True))
    op.create_table(
        "router_account_syncs",
        sa.Column("connector_id", sa.String(100), primary_key=True),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("next_run_at", UTCDateTime, nullable=True),
        sa.Column("lease_id", sa.String(36), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_started_at", UTCDateTime, nullable=True),
        sa.Column("last_finished_at", UTCDateTime, nullable=True),
        sa.Column("last_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("counts", Json, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "router_account_sync_unmatched",
        sa.Column("connector_id", sa.String(100), primary_key=True),
        sa.Column("domain", sa.String(255), primary_key=True),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(300), nullable=True),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    op.drop_table("router_account_sync_unmatched", schema=schema)
    op.drop_table("router_account_syncs", schema=schema)
    with op.batch_alter_table("router_accounts", schema=schema) as batch:
        for name in ("external_id", "connector_id", "source"):
            batch.drop_column(name)
