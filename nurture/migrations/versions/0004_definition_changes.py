"""nurture: who last changed a track or a template put through the API (the API key's id
and name).

Revision ID: nurture_0004
Revises: nurture_0003
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema

revision = "nurture_0004"
down_revision = "nurture_0003"
branch_labels = None
depends_on = None

TABLES = ("nurture_tracks", "nurture_templates")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=target_schema()) as batch:
            batch.add_column(sa.Column("changed_by", sa.String(64), nullable=True))
            batch.add_column(sa.Column("changed_by_name", sa.String(200), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=target_schema()) as batch:
            batch.drop_column("changed_by_name")
            batch.drop_column("changed_by")
