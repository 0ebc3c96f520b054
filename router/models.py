"""router's tables."""

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table

from services.sqltypes import UTCDateTime

metadata = MetaData()

reps = Table(
    "router_reps",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("weight", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

assignments = Table(
    "router_assignments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(36), nullable=False, unique=True),
    Column("rep_id", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("pool", String(100), nullable=False),
    Column("rule", String(100), nullable=False),
    Column("first_touch_due_at", UTCDateTime, nullable=True),
    Column("touched_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)
Index("ix_router_assignments_rep", assignments.c.rep_id)

cursors = Table(
    "router_cursors",
    metadata,
    Column("pool", String(100), primary_key=True),
    Column("last_rep_id", String(64), nullable=False),
)

activities = Table(
    "router_activities",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(36), nullable=False),
    Column("rep_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
Index("ix_router_activities_lead", activities.c.lead_id)
