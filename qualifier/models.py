"""qualifier's tables."""

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text

from services.backtests import backtests_table
from services.sqltypes import BigId, Json, UTCDateTime

metadata = MetaData()

# The latest decision per lead (the audit timeline keeps every announced one).
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
    # qualifier_0002
    Column("criteria", Json, nullable=True),
    Column("disqualifiers", Json, nullable=True),
    Column("reason", Text, nullable=True),
    Column("model_version", String(64), nullable=True),
    Column("rule_score", Integer, nullable=True),
    Column("win_probability", Float, nullable=True),
    Column("trigger", String(16), nullable=True),
    # qualifier_0004
    Column("intent_decay", Json, nullable=True),
)
Index("ix_qualifier_decisions_outcome", decisions.c.outcome, decisions.c.lead_id)  # qualifier_0002

# The last profile (and nurture engagement) the qualifier saw per lead, to re-evaluate it.
leads = Table(
    "qualifier_leads",
    metadata,
    Column("lead_id", String(64), primary_key=True),
    Column("profile", Json, nullable=False),
    Column("engagement_score", Float, nullable=True),
    Column("engagements", Json, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    # qualifier_0004: the last intent signal (a form submitted, a hand raised in nurture)
    Column("intent_at", UTCDateTime, nullable=True),
)

# Every version of the definitions ever active; the highest seq is the active one.
definitions = Table(
    "qualifier_definitions",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("version", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("yaml", Text, nullable=False),
    Column("origin", String(255), nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)

# One row per closed opportunity: the unique key that makes learning idempotent.
outcomes = Table(
    "qualifier_outcomes",
    metadata,
    Column("opportunity_id", String(100), primary_key=True),
    Column("lead_id", String(64), nullable=False),
    Column("won", Boolean, nullable=False),
    Column("amount", String(40), nullable=False),
    Column("currency", String(8), nullable=False),
    Column("features", Json, nullable=False),
    Column("closed_at", UTCDateTime, nullable=False),
)

# Win and loss counts per (attribute, value); ("*", "*") holds the totals.
attribute_stats = Table(
    "qualifier_attribute_stats",
    metadata,
    Column("attribute", String(32), primary_key=True),
    Column("value", String(200), primary_key=True),
    Column("wins", Integer, nullable=False),
    Column("losses", Integer, nullable=False),
)

# Backtests (services/backtests.py): a candidate replayed over an archived window, its
# progress and, once done, its comparison with the current configuration; kept until deleted.
backtests = backtests_table("qualifier_backtests", metadata)
