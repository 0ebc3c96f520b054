"""qualifier: stored definitions, lead profiles, decision criteria, learning from outcomes.

Revision ID: qualifier_0002
Revises: qualifier_0001
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import BigId, Json, UTCDateTime

revision = "qualifier_0002"
down_revision = "qualifier_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("qualifier_decisions", schema=schema) as batch:
        batch.add_column(sa.Column("criteria", Json, nullable=True))
        batch.add_column(sa.Column("disqualifiers", Json, nullable=True))
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("model_version", sa.String(64), nullable=True))
        batch.add_column(sa.Column("rule_score", sa.Integer, nullable=True))
        batch.add_column(sa.Column("win_probability", sa.Float, nullable=True))
        batch.add_column(sa.Column("trigger", sa.String(16), nullable=True))
    op.create_index(
        "ix_qualifier_decisions_outcome",
        "qualifier_decisions",
        ["outcome", "lead_id"],
        schema=schema,
    )
    op.create_table(
        "qualifier_leads",
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("profile", Json, nullable=False),
        sa.Column("engagement_score", sa.Float, nullable=True),
        sa.Column("engagements", Json, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "qualifier_definitions",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("yaml", sa.Text, nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        schema=schema,
        sqlite_autoincrement=True,
    )
    op.create_table(
        "qualifier_outcomes",
        sa.Column("opportunity_id", sa.String(100), primary_key=True),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("won", sa.Boolean, nullable=False),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("features", Json, nullable=False),
        sa.Column("closed_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "qualifier_attribute_stats",
        sa.Column("attribute", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("wins", sa.Integer, nullable=False),
        sa.Column("losses", sa.Integer, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    op.drop_table("qualifier_attribute_stats", schema=schema)
    op.drop_table("qualifier_outcomes", schema=schema)
    op.drop_table("qualifier_definitions", schema=schema)
    op.drop_table("qualifier_leads", schema=schema)
    op.drop_index("ix_qualifier_decisions_outcome", "qualifier_decisions", schema=schema)
    with op.batch_alter_table("qualifier_decisions", schema=schema) as batch:
        for column in (
            "trigger",
            "win_probability",
            "rule_score",
            "model_version",
            "reason",
            "disqualifiers",
            "criteria",
        ):
            batch.drop_column(column)
