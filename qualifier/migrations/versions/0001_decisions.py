"""qualifier: decisions.

Revision ID: qualifier_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "qualifier_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qualifier_decisions",
        sa.Column("lead_id", sa.String(36), primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("term", sa.String(8), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("definition_version", sa.String(64), nullable=False),
        sa.Column("reasons", Json, nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=False),
        schema=target_schema(),
    )


def downgrade() -> None:
    op.drop_table("qualifier_decisions", schema=target_schema())
