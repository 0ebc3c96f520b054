"""ingest: an Idempotency-Key's answer is kept for a window (`LEADFARM_INGEST_IDEMPOTENCY_HOURS`)
and then dropped: the answers are indexed by when they were made, so dropping the old ones
reads only them.

Revision ID: ingest_0006
Revises: ingest_0005
"""

from alembic import op

from services.migrate import target_schema

revision = "ingest_0006"
down_revision = "ingest_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_ingest_idempotency_created",
        "ingest_idempotency",
        ["created_at"],
        schema=target_schema(),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_ingest_idempotency_created", table_name="ingest_idempotency", schema=target_schema()
    )
