"""nurture: erasure tombstones.

Revision ID: nurture_0003
Revises: nurture_0002
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import UTCDateTime

revision = "nurture_0003"
down_revision = "nurture_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nurture_erased",
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("erasure_id", sa.String(64), nullable=False),
        sa.Column("erased_at", UTCDateTime, nullable=False),
        schema=target_schema(),
    )


def downgrade() -> None:
    op.drop_table("nurture_erased", schema=target_schema())
