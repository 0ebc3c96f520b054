"""nurture: tracks, leads, consent and suppression, messages, tasks, engagements.

Revision ID: nurture_0002
Revises: nurture_0001
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "nurture_0002"
down_revision = "nurture_0001"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("nurture_enrolments", schema=schema) as batch:
        batch.add_column(sa.Column("trigger", sa.String(16), nullable=True))
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=True))
        batch.add_column(sa.Column("last_touch_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("ended_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("end_reason", sa.String(500), nullable=True))
    op.create_index(
        "ix_nurture_enrolments_track", "nurture_enrolments", ["track", "status"], schema=schema
    )
    op.create_index(
        "ux_nurture_enrolments_active",
        "nurture_enrolments",
        ["lead_id"],
        unique=True,
        schema=schema,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_table(
        "nurture_leads",
        sa.Column("lead_id", sa.String(36), primary_key=True),
        sa.Column("email_hash", sa.String(64), nullable=True),
        sa.Column("profile", Json, nullable=False),
        sa.Column("recycled_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_nurture_leads_email", "nurture_leads", ["email_hash"], schema=schema)
    op.create_table(
        "nurture_consents",
        sa.Column("email_hash", sa.String(64), primary_key=True),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("evidence", sa.String(1000), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "nurture_suppressions",
        sa.Column("email_hash", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(1000), nullable=True),
        sa.Column("track", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "nurture_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("enrolment_id", sa.String(36), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("track", sa.String(100), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("template", sa.String(100), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=True),
        sa.Column("to_address", sa.String(320), nullable=True),
        sa.Column("subject", sa.Text, nullable=True),
        sa.Column("text_body", sa.Text, nullable=True),
        sa.Column("html_body", sa.Text, nullable=True),
        sa.Column("unsubscribe_url", sa.Text, nullable=True),
        sa.Column("consent_basis", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("provider_id", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_nurture_messages_due", "nurture_messages", ["status", "next_attempt_at"], schema=schema
    )
    op.create_index("ix_nurture_messages_lead", "nurture_messages", ["lead_id"], schema=schema)
    op.create_index(
        "ix_nurture_messages_enrolment", "nurture_messages", ["enrolment_id"], schema=schema
    )
    op.create_table(
        "nurture_tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("enrolment_id", sa.String(36), nullable=False),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("track", sa.String(100), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("completed_at", UTCDateTime, nullable=True),
        sa.Column("outcome", sa.String(1000), nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_nurture_tasks_status", "nurture_tasks", ["status", "created_at"], schema=schema
    )
    op.create_index("ix_nurture_tasks_lead", "nurture_tasks", ["lead_id"], schema=schema)
    op.create_table(
        "nurture_engagements",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("enrolment_id", sa.String(36), nullable=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("hand_raise", sa.Boolean, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("message_id", sa.String(36), nullable=True),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("timeframe_days", sa.Integer, nullable=True),
        sa.Column("detail", Json, nullable=True),
        sa.Column("external_id", sa.String(200), nullable=True, unique=True),
        schema=schema,
    )
    op.create_index(
        "ix_nurture_engagements_lead", "nurture_engagements", ["lead_id", "at"], schema=schema
    )
    op.create_index(
        "ix_nurture_engagements_enrolment", "nurture_engagements", ["enrolment_id"], schema=schema
    )
    for table in ("nurture_tracks", "nurture_templates"):
        op.create_table(
            table,
            sa.Column("id", sa.String(100), primary_key=True),
            sa.Column("definition", Json, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("created_at", UTCDateTime, nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
            schema=schema,
        )
    op.create_table(
        "nurture_keys",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    for table in (
        "nurture_keys",
        "nurture_templates",
        "nurture_tracks",
        "nurture_engagements",
        "nurture_tasks",
        "nurture_messages",
        "nurture_suppressions",
        "nurture_consents",
        "nurture_leads",
    ):
        op.drop_table(table, schema=schema)
    op.drop_index("ux_nurture_enrolments_active", "nurture_enrolments", schema=schema)
    op.drop_index("ix_nurture_enrolments_track", "nurture_enrolments", schema=schema)
    with op.batch_alter_table("nurture_enrolments", schema=schema) as batch:
        for column in ("end_reason", "ended_at", "last_touch_at", "timezone", "trigger"):
            batch.drop_column(column)
