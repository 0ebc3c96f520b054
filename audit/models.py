"""audit's tables: the event archive, read models built from the events, and what audit owns
itself (Prospect Satisfaction audits, the forecast, spend, roles, erasures).

Only the archive (`audit_events.envelope`), an audit's free-text comment and the lookup
from a lead's email and company to its id (`audit_lead_contacts`, so a manager can find a
lead) hold personal data; every other read model holds ids, sources, times and amounts, so
an erasure redacts the first two, deletes the lookup row, and every count stays. Money is
stored in minor units (cents) as integers.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from services.sqltypes import BigId, Json, UTCDateTime

metadata = MetaData()

events = Table(
    "audit_events",
    metadata,
    Column("position", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("lead_id", String(64), nullable=False),
    Column("type", String(100), nullable=False),
    Column("source", String(100), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("envelope", Json, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("redacted_at", UTCDateTime, nullable=True),
)
Index("ix_audit_events_lead", events.c.lead_id, events.c.time)
Index("ix_audit_events_type_time", events.c.type, events.c.time, events.c.position)

leads = Table(
    "audit_leads",
    metadata,
    Column("lead_id", String(64), primary_key=True),
    Column("source", String(100), nullable=True),
    Column("source_class", String(32), nullable=True),
    Column("campaign", String(200), nullable=True),
    Column("is_test", Boolean, nullable=False, default=False),
    Column("timeframe_days", Integer, nullable=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("captured_at", UTCDateTime, nullable=True),
    # 0 raw, 1 basic-qualified, 2 sales-qualified: the furthest stage any decision reached.
    Column("stage_rank", Integer, nullable=False, default=0),
    Column("term", String(8), nullable=True),
    Column("qualified_at", UTCDateTime, nullable=True),
    Column("disqualified_at", UTCDateTime, nullable=True),
    Column("rep_id", String(64), nullable=True),
    Column("assigned_at", UTCDateTime, nullable=True),
    Column("first_touch_due_at", UTCDateTime, nullable=True),
    Column("first_touch_at", UTCDateTime, nullable=True),
    Column("touches", Integer, nullable=False, default=0),
    Column("accepted_at", UTCDateTime, nullable=True),
    Column("opportunity_at", UTCDateTime, nullable=True),
    Column("won_at", UTCDateTime, nullable=True),
    Column("lost_at", UTCDateTime, nullable=True),
    Column("returned_at", UTCDateTime, nullable=True),
    Column("erased_at", UTCDateTime, nullable=True),
)
Index("ix_audit_leads_captured", leads.c.captured_at)

# How a manager finds a lead without its id: the email (lower case) and company (as given,
# and in lower case to match) of its latest profile. Deleted by an erasure, never written
# for an erased lead, so an erased person cannot be found by their old email.
lead_contacts = Table(
    "audit_lead_contacts",
    metadata,
    Column("lead_id", String(64), primary_key=True),
    Column("email", String(320), nullable=True),
    Column("company", String(200), nullable=True),
    Column("company_key", String(200), nullable=True),
)
Index("ix_audit_lead_contacts_email", lead_contacts.c.email)
Index("ix_audit_lead_contacts_company", lead_contacts.c.company_key)

assignments = Table(
    "audit_assignments",
    metadata,
    Column("assignment_id", String(64), primary_key=True),
    Column("lead_id", String(64), nullable=False),
    Column("rep_id", String(64), nullable=False),
    Column("assigned_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("first_touch_at", UTCDateTime, nullable=True),
    Column("touches", Integer, nullable=False, default=0),
    Column("breached_at", UTCDateTime, nullable=True),
    Column("cadence_breaches", Integer, nullable=False, default=0),
    Column("ended_at", UTCDateTime, nullable=True),
)
Index("ix_audit_assignments_lead", assignments.c.lead_id, assignments.c.rep_id)

reps = Table(
    "audit_reps",
    metadata,
    Column("rep_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

deals = Table(
    "audit_deals",
    metadata,
    Column("opportunity_id", String(64), primary_key=True),
    Column("lead_id", String(64), nullable=False),
    Column("rep_id", String(64), nullable=True),
    Column("won", Boolean, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("closed_at", UTCDateTime, nullable=False),
)
Index("ix_audit_deals_lead", deals.c.lead_id)

spend = Table(
    "audit_spend",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("note", String(500), nullable=True),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Prospect Satisfaction audits. The code says `satisfaction_audits` (nurture's "tasks" are
# call tasks); the table keeps its first name, `audit_tasks`, as do its indexes: renaming
# them would need a migration for no change in behaviour.
satisfaction_audits = Table(
    "audit_tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(64), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("rep_id", String(64), nullable=True),
    Column("source", String(100), nullable=True),
    Column("source_class", String(32), nullable=True),
    Column("contacted", Boolean, nullable=True),
    Column("contact_count", Integer, nullable=True),
    Column("contacted_by", String(200), nullable=True),
    Column("contacted_within", String(8), nullable=True),
    Column("satisfaction", Integer, nullable=True),
    Column("outcome", String(32), nullable=True),
    Column("comment", Text, nullable=True),
    Column("logged_contact", Boolean, nullable=True),
    Column("recorded_at", UTCDateTime, nullable=True),
    Column("recorded_by", String(64), nullable=True),
)
Index("ix_audit_tasks_lead", satisfaction_audits.c.lead_id)
Index("ix_audit_tasks_status", satisfaction_audits.c.status, satisfaction_audits.c.due_at)

forecast = Table(
    "audit_forecast",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("period", String(7), nullable=False),
    Column("expected_close_at", UTCDateTime, nullable=False),
    Column("entered_at", UTCDateTime, nullable=False),
    Column("source", String(100), nullable=True),
    Column("source_class", String(32), nullable=True),
    Column("rep_id", String(64), nullable=True),
    Column("removed_at", UTCDateTime, nullable=True),
    Column("removal_request_id", String(36), nullable=True),
)
Index("ix_audit_forecast_lead", forecast.c.lead_id, forecast.c.status)

removal_requests = Table(
    "audit_forecast_requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(64), nullable=False),
    Column("entry_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_by", String(64), nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("decision_reason", Text, nullable=True),
)
Index("ix_audit_forecast_requests_status", removal_requests.c.status, removal_requests.c.lead_id)

roles = Table(
    "audit_roles",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("role", String(32), primary_key=True),
    Column("granted_by", String(64), nullable=False),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("revoked_by", String(64), nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

erasures = Table(
    "audit_erasures",
    metadata,
    Column("lead_id", String(64), primary_key=True),
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("events_redacted", Integer, nullable=False),
    Column("id", String(36), nullable=True),  # audit_0003; null on erasures made before
)

# Which services confirmed an erasure (`<service>.erasure_completed`); audit's own row is
# written with the request.
erasure_confirmations = Table(
    "audit_erasure_confirmations",
    metadata,
    Column("lead_id", String(64), primary_key=True),
    Column("service", String(32), primary_key=True),
    Column("erasure_id", String(36), nullable=False),
    Column("records", Integer, nullable=False),
    Column("confirmed_at", UTCDateTime, nullable=False),
)
