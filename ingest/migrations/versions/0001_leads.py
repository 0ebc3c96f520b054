"""ingest: leads and deliveries.

Revision ID: ingest_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "ingest_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.create_table(
        "ingest_leads",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("profile", Json, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_ingest_leads_email", "ingest_leads", ["email"], schema=schema)
    op.create_index("ix_ingest_leads_phone", "ingest_leads", ["phone"], schema=schema)
    op.create_table(
        "ingest_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36), nullable=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_ingest_deliveries_lead", "ingest_deliveries", ["lead_id"], schema=schema)


def downgrade() -> None:
    schema = target_schema()
    op.drop_table("ingest_deliveries", schema=schema)
    op.drop_table("ingest_leads", schema=schema)
