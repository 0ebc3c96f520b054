"""nurture's tables."""

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from services.sqltypes import Json, UTCDateTime

metadata = MetaData()

# One row per time a lead was put on a track. status: active, completed (the track ran
# out), recycled (warmed up: back to the qualifier), exited (qualified or disqualified
# elsewhere). At most one active enrolment per lead (a partial unique index).
enrolments = Table(
    "nurture_enrolments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(36), nullable=False),
    Column("track", String(100), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", Integer, nullable=False),
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("next_touch_at", UTCDateTime, nullable=True),
    Column("trigger", String(16), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("last_touch_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("end_reason", String(500), nullable=True),
)
Index("ix_nurture_enrolments_lead", enrolments.c.lead_id)
Index("ix_nurture_enrolments_track", enrolments.c.track, enrolments.c.status)
Index(
    "ux_nurture_enrolments_active",
    enrolments.c.lead_id,
    unique=True,
    sqlite_where=text("status = 'active'"),
    postgresql_where=text("status = 'active'"),
)

# The lead as nurture last heard of it (from lead.deferred / lead.returned), to render
# emails and to hand back to the qualifier.
leads = Table(
    "nurture_leads",
    metadata,
    Column("lead_id", String(36), primary_key=True),
    Column("email_hash", String(64), nullable=True),
    Column("profile", Json, nullable=False),
    Column("recycled_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_nurture_leads_email", leads.c.email_hash)

# Consent recorded through the API (opt_in or withdrawn), per address hash.
consents = Table(
    "nurture_consents",
    metadata,
    Column("email_hash", String(64), primary_key=True),
    Column("basis", String(16), nullable=False),
    Column("evidence", String(1000), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
)

# Addresses (hashed) that get no email: unsubscribed, hard_bounce, complaint, erased, manual.
suppressions = Table(
    "nurture_suppressions",
    metadata,
    Column("email_hash", String(64), primary_key=True),
    Column("reason", String(32), nullable=False),
    Column("detail", String(1000), nullable=True),
    Column("track", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# Every email step: queued -> sending -> sent, or skipped (no consent, suppressed, ...),
# cancelled (the lead left nurture or unsubscribed first), bounced, failed.
messages = Table(
    "nurture_messages",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("enrolment_id", String(36), nullable=False),
    Column("lead_id", String(36), nullable=False),
    Column("track", String(100), nullable=False),
    Column("step", Integer, nullable=False),
    Column("day", Integer, nullable=False),
    Column("template", String(100), nullable=True),
    Column("email_hash", String(64), nullable=True),
    Column("to_address", String(320), nullable=True),
    Column("subject", Text, nullable=True),
    Column("text_body", Text, nullable=True),
    Column("html_body", Text, nullable=True),
    Column("unsubscribe_url", Text, nullable=True),
    Column("consent_basis", String(32), nullable=True),
    Column("status", String(16), nullable=False),
    Column("reason", String(1000), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("provider_id", String(500), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
)
Index("ix_nurture_messages_due", messages.c.status, messages.c.next_attempt_at)
Index("ix_nurture_messages_lead", messages.c.lead_id)
Index("ix_nurture_messages_enrolment", messages.c.enrolment_id)

# Tasks for inside sales (a track's task steps): open -> done, or cancelled.
tasks = Table(
    "nurture_tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("enrolment_id", String(36), nullable=False),
    Column("lead_id", String(36), nullable=False),
    Column("track", String(100), nullable=False),
    Column("step", Integer, nullable=False),
    Column("day", Integer, nullable=False),
    Column("title", String(500), nullable=False),
    Column("note", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    Column("outcome", String(1000), nullable=True),
)
Index("ix_nurture_tasks_status", tasks.c.status, tasks.c.created_at)
Index("ix_nurture_tasks_lead", tasks.c.lead_id)

engagements = Table(
    "nurture_engagements",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(36), nullable=False),
    Column("enrolment_id", String(36), nullable=True),
    Column("type", String(32), nullable=False),
    Column("points", Float, nullable=False),
    Column("hand_raise", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("message_id", String(36), nullable=True),
    Column("url", String(2000), nullable=True),
    Column("timeframe_days", Integer, nullable=True),
    Column("detail", Json, nullable=True),
    Column("external_id", String(200), nullable=True, unique=True),
)
Index("ix_nurture_engagements_lead", engagements.c.lead_id, engagements.c.at)
Index("ix_nurture_engagements_enrolment", engagements.c.enrolment_id)

# Tracks and templates put through the manager API (they override the file's by id).
api_tracks = Table(
    "nurture_tracks",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("definition", Json, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("changed_by", String(64), nullable=True),
    Column("changed_by_name", String(200), nullable=True),
)
api_templates = Table(
    "nurture_templates",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("definition", Json, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("changed_by", String(64), nullable=True),
    Column("changed_by_name", String(200), nullable=True),
)

# The link-signing key when LEADFARM_NURTURE_SIGNING_KEY is not set.
keys = Table(
    "nurture_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
