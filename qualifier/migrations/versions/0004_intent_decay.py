"""qualifier: the time of each lead's last intent signal, and the decay a decision applied.

Leads stored before this revision take the time their profile was last stored (their
last capture, merge or recycle) as their last intent signal.

Revision ID: qualifier_0004
Revises: qualifier_0003
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "qualifier_0004"
down_revision = "qualifier_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("qualifier_leads", schema=schema) as batch:
        batch.add_column(sa.Column("intent_at", UTCDateTime, nullable=True))
    with op.batch_alter_table("qualifier_decisions", schema=schema) as batch:
        batch.add_column(sa.Column("intent_decay", Json, nullable=True))
    leads = sa.table(
        "qualifier_leads",
        sa.column("intent_at", UTCDateTime),
        sa.column("updated_at", UTCDateTime),
        schema=schema,
    )
    op.execute(leads.update().values(intent_at=leads.c.updated_at))


def downgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("qualifier_decisions", schema=schema) as batch:
        batch.drop_column("intent_decay")
    with op.batch_alter_table("qualifier_leads", schema=schema) as batch:
        batch.drop_column("intent_at")
