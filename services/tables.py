"""The chassis's own tables: outbox, inbox, timers, embedded consumer offsets, reference-data
versions, erasure tombstones and API keys.

No table names a schema. On PostgreSQL each service's connections have
`search_path = <service>, auth`, so the chassis tables resolve to the service's own copies
and `api_keys` to the shared `auth` schema; on SQLite (embedded) everything lives in the
one file. Table names are unique across services for that reason.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from services.sqltypes import BigId, UTCDateTime

AUTH_SCHEMA = "auth"

metadata = MetaData()

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("service", String(32), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("key", String(255), nullable=True),
    Column("payload", Text, nullable=False),
    Column("headers", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime, nullable=True),
    # Never reuse an id: on SQLite the outbox is the log and ids are its offsets.
    sqlite_autoincrement=True,
)
Index(
    "ix_outbox_unpublished",
    outbox.c.service,
    outbox.c.id,
    postgresql_where=outbox.c.published_at.is_(None),
)
Index("ix_outbox_topic_id", outbox.c.topic, outbox.c.id)

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("handled_at", UTCDateTime, nullable=False),
)

timers = Table(
    "timers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("service", String(32), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("payload", Text, nullable=False, default="{}"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("fired_at", UTCDateTime, nullable=True),
    sqlite_autoincrement=True,
)
Index(
    "ix_timers_due", timers.c.service, timers.c.due_at, postgresql_where=timers.c.fired_at.is_(None)
)
Index("ix_timers_key", timers.c.service, timers.c.kind, timers.c.key)

embedded_offsets = Table(
    "embedded_offsets",
    metadata,
    Column("group_id", String(128), primary_key=True),
    Column("position", BigId, nullable=False),
)

reference_versions = Table(
    "reference_versions",
    metadata,
    Column("service", String(32), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
)
"""A version per piece of reference data, bumped with each change (services/reference.py)."""

tombstones = Table(
    "tombstones",
    metadata,
    Column("service", String(32), primary_key=True),
    Column("lead_id", String(64), primary_key=True),
    Column("erasure_id", String(64), nullable=False),
    Column("erased_at", UTCDateTime, nullable=False),
)
"""Leads a service erased (`person.erasure_requested`): events about them that arrive later
are ignored, so they cannot bring the person's data back (services/erasure.py)."""

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("rep_id", String(64), nullable=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)
