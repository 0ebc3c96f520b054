"""router: a team takes its country's (and subdivision's) public holidays, and may work some.

Revision ID: router_0005
Revises: router_0004
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json

revision = "router_0005"
down_revision = "router_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.add_column("router_teams", sa.Column("country", sa.String(2), nullable=True), schema=schema)
    op.add_column(
        "router_teams", sa.Column("subdivision", sa.String(64), nullable=True), schema=schema
    )
    op.add_column(
        "router_teams",
        sa.Column("worked_holidays", Json, nullable=False, server_default=sa.text("'[]'")),
        schema=schema,
    )


def downgrade() -> None:
    with op.batch_alter_table("router_teams", schema=target_schema()) as batch:
        batch.drop_column("worked_holidays")
        batch.drop_column("subdivision")
        batch.drop_column("country")
