"""audit: the archive read by event type and time (the export that backtests replay).

Revision ID: audit_0005
Revises: audit_0004
"""

from alembic import op

from services.migrate import target_schema

revision = "audit_0005"
down_revision = "audit_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_events_type_time",
        "audit_events",
        ["type", "time", "position"],
        schema=target_schema(),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_type_time", "audit_events", schema=target_schema())
