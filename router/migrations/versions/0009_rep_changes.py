"""router: who changed a rep last (the API key's id and name), and who suspended them by
hand (none: the router's SLA compliance did).

Revision ID: router_0009
Revises: router_0008
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema

revision = "router_0009"
down_revision = "router_0008"
branch_labels = None
depends_on = None

COLUMNS = (
    ("changed_by", 64),
    ("changed_by_name", 200),
    ("suspended_by", 64),
    ("suspended_by_name", 200),
)


def upgrade() -> None:
    with op.batch_alter_table("router_reps", schema=target_schema()) as batch:
        for name, length in COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("router_reps", schema=target_schema()) as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
