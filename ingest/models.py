"""ingest's tables."""

from sqlalchemy import Column, Index, MetaData, String, Table, Text

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
)
Index("ix_ingest_deliveries_lead", deliveries.c.lead_id)
