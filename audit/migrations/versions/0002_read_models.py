"""audit: read models (leads, assignments, reps, deals), spend, Prospect Satisfaction audits,
the forecast and its removal requests, roles, erasures; redaction mark on the archive.

Revision ID: audit_0002
Revises: audit_0001
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import UTCDateTime

revision = "audit_0002"
down_revision = "audit_0001"
branch_labels = None
depends_on = None

TABLES = (
    "audit_erasures",
    "audit_roles",
    "audit_forecast_requests",
    "audit_forecast",
    "audit_tasks",
    "audit_spend",
    "audit_deals",
    "audit_reps",
    "audit_assignments",
    "audit_leads",
)


def upgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("audit_events", schema=schema) as batch:
        batch.add_column(sa.Column("redacted_at", UTCDateTime, nullable=True))

    op.create_table(
        "audit_leads",
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(100), nullable=True),
        sa.Column("source_class", sa.String(32), nullable=True),
        sa.Column("campaign", sa.String(200), nullable=True),
        sa.Column("is_test", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("timeframe_days", sa.Integer, nullable=True),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("captured_at", UTCDateTime, nullable=True),
        sa.Column("stage_rank", sa.Integer, nullable=False, server_default="0"),
        sa.Column("term", sa.String(8), nullable=True),
        sa.Column("qualified_at", UTCDateTime, nullable=True),
        sa.Column("disqualified_at", UTCDateTime, nullable=True),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("assigned_at", UTCDateTime, nullable=True),
        sa.Column("first_touch_due_at", UTCDateTime, nullable=True),
        sa.Column("first_touch_at", UTCDateTime, nullable=True),
        sa.Column("touches", sa.Integer, nullable=False, server_default="0"),
        sa.Column("accepted_at", UTCDateTime, nullable=True),
        sa.Column("opportunity_at", UTCDateTime, nullable=True),
        sa.Column("won_at", UTCDateTime, nullable=True),
        sa.Column("lost_at", UTCDateTime, nullable=True),
        sa.Column("returned_at", UTCDateTime, nullable=True),
        sa.Column("erased_at", UTCDateTime, nullable=True),
        schema=schema,
    )
    op.create_index("ix_audit_leads_captured", "audit_leads", ["captured_at"], schema=schema)

    op.create_table(
        "audit_assignments",
        sa.Column("assignment_id", sa.String(64), primary_key=True),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=False),
        sa.Column("assigned_at", UTCDateTime, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("first_touch_at", UTCDateTime, nullable=True),
        sa.Column("touches", sa.Integer, nullable=False, server_default="0"),
        sa.Column("breached_at", UTCDateTime, nullable=True),
        sa.Column("cadence_breaches", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_audit_assignments_lead", "audit_assignments", ["lead_id", "rep_id"], schema=schema
    )

    op.create_table(
        "audit_reps",
        sa.Column("rep_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )

    op.create_table(
        "audit_deals",
        sa.Column("opportunity_id", sa.String(64), primary_key=True),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("won", sa.Boolean, nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("closed_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_audit_deals_lead", "audit_deals", ["lead_id"], schema=schema)

    op.create_table(
        "audit_spend",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("period", sa.String(7), primary_key=True),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )

    op.create_table(
        "audit_tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("source", sa.String(100), nullable=True),
        sa.Column("source_class", sa.String(32), nullable=True),
        sa.Column("contacted", sa.Boolean, nullable=True),
        sa.Column("contact_count", sa.Integer, nullable=True),
        sa.Column("contacted_by", sa.String(200), nullable=True),
        sa.Column("contacted_within", sa.String(8), nullable=True),
        sa.Column("satisfaction", sa.Integer, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("logged_contact", sa.Boolean, nullable=True),
        sa.Column("recorded_at", UTCDateTime, nullable=True),
        sa.Column("recorded_by", sa.String(64), nullable=True),
        schema=schema,
    )
    op.create_index("ix_audit_tasks_lead", "audit_tasks", ["lead_id"], schema=schema)
    op.create_index("ix_audit_tasks_status", "audit_tasks", ["status", "due_at"], schema=schema)

    op.create_table(
        "audit_forecast",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("expected_close_at", UTCDateTime, nullable=False),
        sa.Column("entered_at", UTCDateTime, nullable=False),
        sa.Column("source", sa.String(100), nullable=True),
        sa.Column("source_class", sa.String(32), nullable=True),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("removed_at", UTCDateTime, nullable=True),
        sa.Column("removal_request_id", sa.String(36), nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_audit_forecast_lead", "audit_forecast", ["lead_id", "status"], schema=schema
    )

    op.create_table(
        "audit_forecast_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_audit_forecast_requests_status",
        "audit_forecast_requests",
        ["status", "lead_id"],
        schema=schema,
    )

    op.create_table(
        "audit_roles",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("role", sa.String(32), primary_key=True),
        sa.Column("granted_by", sa.String(64), nullable=False),
        sa.Column("granted_at", UTCDateTime, nullable=False),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        schema=schema,
    )

    op.create_table(
        "audit_erasures",
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("events_redacted", sa.Integer, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    for table in TABLES:
        op.drop_table(table, schema=schema)
    with op.batch_alter_table("audit_events", schema=schema) as batch:
        batch.drop_column("redacted_at")
