"""ingest: sources, delivery fetch state and dedupe, idempotency keys.

Revision ID: ingest_0002
Revises: ingest_0001
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "ingest_0002"
down_revision = "ingest_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("ingest_deliveries", schema=schema) as batch:
        batch.add_column(sa.Column("payload", Json, nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text, nullable=True))
        batch.add_column(sa.Column("updated_at", UTCDateTime, nullable=True))
    op.create_index(
        "ux_ingest_deliveries_external",
        "ingest_deliveries",
        ["source", "external_id"],
        unique=True,
        schema=schema,
        sqlite_where=sa.text("external_id IS NOT NULL"),
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_index(
        "ix_ingest_deliveries_status",
        "ingest_deliveries",
        ["status", "next_attempt_at"],
        schema=schema,
    )
    op.create_table(
        "ingest_sources",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("secrets", Json, nullable=False),
        sa.Column("settings", Json, nullable=False),
        sa.Column("api_base_url", sa.String(500), nullable=True),
        sa.Column("source_class", sa.String(32), nullable=False),
        sa.Column("campaign", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "ingest_idempotency",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", Json, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    op.drop_table("ingest_idempotency", schema=schema)
    op.drop_table("ingest_sources", schema=schema)
    op.drop_index("ix_ingest_deliveries_status", "ingest_deliveries", schema=schema)
    op.drop_index("ux_ingest_deliveries_external", "ingest_deliveries", schema=schema)
    with op.batch_alter_table("ingest_deliveries", schema=schema) as batch:
        for column in ("updated_at", "last_error", "next_attempt_at", "attempts", "payload"):
            batch.drop_column(column)
