"""audit: find a lead by its email or company (`audit_lead_contacts`), filled from the
archive for the leads seen before; erased leads are left out.

Revision ID: audit_0004
Revises: audit_0003
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json

revision = "audit_0004"
down_revision = "audit_0003"
branch_labels = None
depends_on = None

# The event types that carried a lead's profile when this migration was written.
PROFILED = (
    "leadfarm.lead.captured.v1",
    "leadfarm.lead.merged.v1",
    "leadfarm.lead.qualified.v1",
    "leadfarm.lead.deferred.v1",
    "leadfarm.lead.assigned.v1",
    "leadfarm.lead.reassigned.v1",
    "leadfarm.lead.returned.v1",
    "leadfarm.opportunity.opened.v1",
    "leadfarm.opportunity.closed.v1",
    "leadfarm.lead.recycled.v1",
)


def _text(value: Any, limit: int) -> str | None:
    return value.strip()[:limit] or None if isinstance(value, str) else None


def upgrade() -> None:
    schema = target_schema()
    contacts = op.create_table(
        "audit_lead_contacts",
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("company", sa.String(200), nullable=True),
        sa.Column("company_key", sa.String(200), nullable=True),
        schema=schema,
    )
    op.create_index("ix_audit_lead_contacts_email", "audit_lead_contacts", ["email"], schema=schema)
    op.create_index(
        "ix_audit_lead_contacts_company", "audit_lead_contacts", ["company_key"], schema=schema
    )
    events = sa.table(
        "audit_events",
        sa.column("lead_id", sa.String),
        sa.column("type", sa.String),
        sa.column("time", sa.DateTime),
        sa.column("position", sa.BigInteger),
        sa.column("envelope", Json),
        sa.column("redacted_at", sa.DateTime),
        schema=schema,
    )
    erasures = sa.table("audit_erasures", sa.column("lead_id", sa.String), schema=schema)
    rows = op.get_bind().execute(
        sa.select(events.c.lead_id, events.c.envelope)
        .where(
            events.c.type.in_(PROFILED),
            events.c.redacted_at.is_(None),
            events.c.lead_id.not_in(sa.select(erasures.c.lead_id)),
        )
        .order_by(events.c.time, events.c.position)
    )
    latest: dict[str, dict[str, Any]] = {}
    for lead_id, envelope in rows:
        data = envelope.get("data") if isinstance(envelope, dict) else None
        profile = data.get("lead") if isinstance(data, dict) else None
        if not isinstance(profile, dict):
            continue
        email = _text(profile.get("email"), 320)
        company = _text(profile.get("company"), 200)
        known = latest.setdefault(
            lead_id, {"lead_id": lead_id, "email": None, "company": None, "company_key": None}
        )
        if email:
            known["email"] = email.lower()
        if company:
            known["company"], known["company_key"] = company, company.lower()
    found = [row for row in latest.values() if row["email"] or row["company"]]
    if found:
        op.bulk_insert(contacts, found)


def downgrade() -> None:
    op.drop_table("audit_lead_contacts", schema=target_schema())
