"""nurture's tables."""

from sqlalchemy import Column, Index, Integer, MetaData, String, Table

from services.sqltypes import UTCDateTime

metadata = MetaData()

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
)
Index("ix_nurture_enrolments_lead", enrolments.c.lead_id)
