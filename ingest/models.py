"""ingest's tables."""

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text

from services.sqltypes import Json, UTCDateTime

metadata = MetaData()

leads = Table(
    "ingest_leads",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=True),
    Column("phone", String(32), nullable=True),
    Column("profile", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_ingest_leads_email", leads.c.email)
Index("ix_ingest_leads_phone", leads.c.phone)

deliveries = Table(
    "ingest_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(36), nullable=True),
    Column("source", String(100), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("external_id", String(255), nullable=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("received_at", UTCDateTime, nullable=False),
    # What a pending fetch needs, or the raw fields of a stored lead.
    Column("payload", Json, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
)
Index("ix_ingest_deliveries_lead", deliveries.c.lead_id)
Index(
    "ux_ingest_deliveries_external",
    deliveries.c.source,
    deliveries.c.external_id,
    unique=True,
    sqlite_where=deliveries.c.external_id.is_not(None),
    postgresql_where=deliveries.c.external_id.is_not(None),
)
Index("ix_ingest_deliveries_status", deliveries.c.status, deliveries.c.next_attempt_at)

sources = Table(
    "ingest_sources",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("secrets", Json, nullable=False),
    Column("settings", Json, nullable=False),
    Column("api_base_url", String(500), nullable=True),
    Column("source_class", String(32), nullable=False),
    Column("campaign", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Secret name -> when its previous value (during a rotation) stops verifying (ISO 8601).
    Column("secrets_previous_until", Json, nullable=True),
)

# Signed webhook deliveries seen, for providers whose signature covers a timestamp: a copy
# of one is refused until `expires_at` (after which its timestamp is too old anyway).
webhook_replays = Table(
    "ingest_webhook_replays",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("signature", String(64), primary_key=True),  # SHA-256 of the signature header
    Column("expires_at", UTCDateTime, nullable=False),
)
Index("ix_ingest_webhook_replays_expires", webhook_replays.c.expires_at)

idempotency = Table(
    "ingest_idempotency",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_ingest_idempotency_created", idempotency.c.created_at)
