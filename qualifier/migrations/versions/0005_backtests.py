"""qualifier: backtest jobs and their results (services/backtests.py).

Revision ID: qualifier_0005
Revises: qualifier_0004
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "qualifier_0005"
down_revision = "qualifier_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qualifier_backtests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.Column("until", UTCDateTime, nullable=False),
        sa.Column("candidate", Json, nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("processed", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=True),
        sa.Column("result", Json, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        schema=target_schema(),
    )


def downgrade() -> None:
    op.drop_table("qualifier_backtests", schema=target_schema())
