"""API keys.

Revision ID: auth_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import UTCDateTime

revision = "auth_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        schema=target_schema(),
    )


def downgrade() -> None:
    op.drop_table("api_keys", schema=target_schema())
