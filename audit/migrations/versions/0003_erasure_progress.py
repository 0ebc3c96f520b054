"""audit: an erasure's id and each service's confirmation of it.

Revision ID: audit_0003
Revises: audit_0002
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import UTCDateTime

revision = "audit_0003"
down_revision = "audit_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("audit_erasures", schema=schema) as batch:
        batch.add_column(sa.Column("id", sa.String(36), nullable=True))
    op.create_table(
        "audit_erasure_confirmations",
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(32), primary_key=True),
        sa.Column("erasure_id", sa.String(36), nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("confirmed_at", UTCDateTime, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    op.drop_table("audit_erasure_confirmations", schema=schema)
    with op.batch_alter_table("audit_erasures", schema=schema) as batch:
        batch.drop_column("id")
