"""router: backtest jobs and their results (services/backtests.py).

Revision ID: router_0008
Revises: router_0007
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "router_0008"
down_revision = "router_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "router_backtests",
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
    op.drop_table("router_backtests", schema=target_schema())
