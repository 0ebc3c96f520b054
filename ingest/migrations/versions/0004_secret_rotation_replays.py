"""ingest: the previous value of a rotated secret expires; signed deliveries seen (replay).

Revision ID: ingest_0004
Revises: ingest_0003
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "ingest_0004"
down_revision = "ingest_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("ingest_sources", schema=schema) as batch:
        batch.add_column(sa.Column("secrets_previous_until", Json, nullable=True))
    op.create_table(
        "ingest_webhook_replays",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("signature", sa.String(64), primary_key=True),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index(
        "ix_ingest_webhook_replays_expires",
        "ingest_webhook_replays",
        ["expires_at"],
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    op.drop_index("ix_ingest_webhook_replays_expires", "ingest_webhook_replays", schema=schema)
    op.drop_table("ingest_webhook_replays", schema=schema)
    with op.batch_alter_table("ingest_sources", schema=schema) as batch:
        batch.drop_column("secrets_previous_until")
