"""audit's tables."""

from sqlalchemy import Column, Index, MetaData, String, Table

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
)
Index("ix_audit_events_lead", events.c.lead_id, events.c.time)
