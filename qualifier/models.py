"""qualifier's tables."""

from sqlalchemy import Column, Integer, MetaData, String, Table

from services.sqltypes import Json, UTCDateTime

metadata = MetaData()

decisions = Table(
    "qualifier_decisions",
    metadata,
    Column("lead_id", String(36), primary_key=True),
    Column("outcome", String(16), nullable=False),
    Column("lifecycle", String(16), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("term", String(8), nullable=False),
    Column("score", Integer, nullable=False),
    Column("definition_version", String(64), nullable=False),
    Column("reasons", Json, nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
)
