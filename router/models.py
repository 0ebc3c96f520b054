"""router's tables."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from services.backtests import backtests_table
from services.sqltypes import BigId, Json, UTCDateTime

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
    Column("time_zone", String(64), nullable=False),
    Column("working_hours", Json, nullable=False),
    Column("languages", Json, nullable=False),
    Column("territories", Json, nullable=False),
    Column("max_open_leads", Integer, nullable=True),
    Column("daily_cap", Integer, nullable=True),
    Column("out_of_office", Json, nullable=False),
    Column("team_id", String(64), nullable=True),
    Column("suspended_at", UTCDateTime, nullable=True),
    Column("suspended_reason", Text, nullable=True),
    Column("reinstated_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
    Column("changed_by", String(64), nullable=True),
    Column("changed_by_name", String(200), nullable=True),
    Column("suspended_by", String(64), nullable=True),
    Column("suspended_by_name", String(200), nullable=True),
    # The rep's id in each CRM a connector writes to, by kind: {"hubspot": "123"}.
    Column("crm_owner_ids", Json, nullable=False, server_default=text("'{}'")),
)

teams = Table(
    "router_teams",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=True),
    Column("subdivision", String(64), nullable=True),
    Column("holidays", Json, nullable=False),
    Column("worked_holidays", Json, nullable=False, server_default=text("'[]'")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

accounts = Table(
    "router_accounts",
    metadata,
    Column("domain", String(255), primary_key=True),
    Column("rep_id", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False, server_default="manual"),
    Column("connector_id", String(100), nullable=True),
    Column("external_id", String(100), nullable=True),
)

pools = Table(
    "router_pools",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("strategy", String(32), nullable=False),
    Column("members", Json, nullable=False),
    Column("teams", Json, nullable=False),
    Column("outside_hours", String(16), nullable=False),
    Column("match_territory", Boolean, nullable=False),
    Column("match_language", Boolean, nullable=False),
    Column("owner_fallback", String(32), nullable=False),
    Column("sourced_leads", String(16), nullable=False, server_default="sourcing_rep"),
    Column("sla", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

rules = Table(
    "router_rules",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("position", Integer, nullable=False),
    Column("conditions", Json, nullable=False),
    Column("pool", String(100), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Every change of a rule or a pool, in order: the object's whole definition after it (null
# when deleted), who made it and when. The rules (or pools) as of version N are, per object,
# the latest row of that kind at or below N.
config_versions = Table(
    "router_config_versions",
    metadata,
    Column("version", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),
    Column("object_id", String(100), nullable=False),
    Column("action", String(16), nullable=False),
    Column("state", Json, nullable=True),
    Column("restored_from", BigInteger, nullable=True),
    Column("changed_by", String(64), nullable=False),
    Column("changed_by_name", String(200), nullable=True),
    Column("changed_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)
Index(
    "ix_router_config_versions_object",
    config_versions.c.kind,
    config_versions.c.object_id,
    config_versions.c.version,
)

cursors = Table(
    "router_cursors",
    metadata,
    Column("pool", String(100), primary_key=True),
    Column("last_rep_id", String(64), nullable=False),
)

pool_reps = Table(
    "router_pool_reps",
    metadata,
    Column("pool", String(100), primary_key=True),
    Column("rep_id", String(64), primary_key=True),
    Column("current", Integer, nullable=False),
    Column("assigned", Integer, nullable=False),
    Column("last_assigned_at", UTCDateTime, nullable=True),
)

leads = Table(
    "router_leads",
    metadata,
    Column("lead_id", String(36), primary_key=True),
    Column("profile", Json, nullable=False),
    Column("score", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("rep_id", String(64), nullable=True),
    Column("assignment_id", String(36), nullable=True),
    Column("pool", String(100), nullable=True),
    Column("rule", String(100), nullable=True),
    Column("strategy", String(32), nullable=True),
    Column("queue", String(32), nullable=True),
    Column("held_until", UTCDateTime, nullable=True),
    Column("explanation", Json, nullable=True),
    Column("reassignments", Integer, nullable=False),
    Column("return_reason", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_router_leads_rep_status", leads.c.rep_id, leads.c.status)
Index("ix_router_leads_status", leads.c.status)

# Each rep's load as a routing decision reads it, without counting their leads. `open_leads`
# is kept by database triggers on router_leads (router_0013), whichever statement changes a
# lead's rep or status; `assigned_that_day` is written by the routing transaction (the only
# writer of assignments, holding the rep's lock): the assignments since `day_start`, the
# rep's local midnight it counted from (router/state.py).
rep_loads = Table(
    "router_rep_loads",
    metadata,
    Column("rep_id", String(64), primary_key=True),
    Column("open_leads", Integer, nullable=False, server_default=text("0")),
    Column("day_start", UTCDateTime, nullable=True),
    Column("assigned_that_day", Integer, nullable=False, server_default=text("0")),
)

assignments = Table(
    "router_assignments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(36), nullable=False),
    Column("rep_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("pool", String(100), nullable=False),
    Column("rule", String(100), nullable=False),
    Column("strategy", String(32), nullable=False),
    Column("explanation", Json, nullable=False),
    Column("assigned_at", UTCDateTime, nullable=False),
    Column("accepted_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("end_reason", String(32), nullable=True),
    Column("first_touch_due_at", UTCDateTime, nullable=False),
    Column("touched_at", UTCDateTime, nullable=True),
    Column("first_touch", String(12), nullable=False),
    Column("first_touch_resolved_at", UTCDateTime, nullable=True),
    Column("cadence_due_at", UTCDateTime, nullable=False),
    Column("cadence", String(12), nullable=False),
    Column("cadence_resolved_at", UTCDateTime, nullable=True),
    Column("calls_required", Integer, nullable=False),
    Column("emails_required", Integer, nullable=False),
    Column("min_spacing_minutes", Float, nullable=False),
    Column("calls_made", Integer, nullable=False),
    Column("emails_made", Integer, nullable=False),
    Column("calls_counted", Integer, nullable=False),
    Column("emails_counted", Integer, nullable=False),
    Column("last_call_at", UTCDateTime, nullable=True),
    Column("last_email_at", UTCDateTime, nullable=True),
    Column("connected_at", UTCDateTime, nullable=True),
)
Index("ix_router_assignments_lead", assignments.c.lead_id)
Index("ix_router_assignments_rep", assignments.c.rep_id, assignments.c.assigned_at)

activities = Table(
    "router_activities",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(36), nullable=False),
    Column("rep_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("assignment_id", String(36), nullable=True),
    Column("counted", Boolean, nullable=True),
    Column("connected", Boolean, nullable=True),
    Column("note", Text, nullable=True),
)
Index("ix_router_activities_lead", activities.c.lead_id)

opportunities = Table(
    "router_opportunities",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lead_id", String(36), nullable=False),
    Column("rep_id", String(64), nullable=False),
    Column("name", String(200), nullable=True),
    Column("amount", Numeric(16, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(8), nullable=False),
    Column("reason", Text, nullable=True),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
)
Index("ix_router_opportunities_lead", opportunities.c.lead_id)

subscriptions = Table(
    "router_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("event_types", Json, nullable=False),
    Column("rep_id", String(64), nullable=True),
    Column("description", String(500), nullable=True),
    Column("secret", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

deliveries = Table(
    "router_webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subscription_id", String(36), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("lead_id", String(64), nullable=True),
    Column("payload", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    # The event's trace context, kept when tracing is on: the POST continues the trace.
    Column("traceparent", String(55), nullable=True),
)
Index("ix_router_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_router_deliveries_subscription", deliveries.c.subscription_id, deliveries.c.created_at)
# A claim's seek per subscription (router_0014; services/statements.py, oldest_due_per_queue).
Index(
    "ix_router_deliveries_queue",
    deliveries.c.status,
    deliveries.c.subscription_id,
    deliveries.c.next_attempt_at,
    deliveries.c.created_at,
)

# Connectors to reps' CRMs (router/connectors/): credentials sealed (services/crypto.py).
connectors = Table(
    "router_connectors",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("settings", Json, nullable=False),
    Column("credentials", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A router event to write to a CRM: one row per (connector, event), queued in the
# transaction that said the event, sent by the connector worker outside any transaction.
connector_deliveries = Table(
    "router_connector_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("connector_id", String(100), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("lead_id", String(64), nullable=True),
    Column("payload", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    UniqueConstraint("connector_id", "event_id", name="uq_router_connector_delivery"),
)
Index(
    "ix_router_connector_deliveries_due",
    connector_deliveries.c.status,
    connector_deliveries.c.next_attempt_at,
)
Index(
    "ix_router_connector_deliveries_connector",
    connector_deliveries.c.connector_id,
    connector_deliveries.c.created_at,
)
Index(
    "ix_router_connector_deliveries_queue",
    connector_deliveries.c.status,
    connector_deliveries.c.connector_id,
    connector_deliveries.c.next_attempt_at,
    connector_deliveries.c.created_at,
)

# The CRM record (a HubSpot contact) Leadfarm wrote for a lead: how a CRM activity on that
# record finds its lead.
crm_records = Table(
    "router_crm_records",
    metadata,
    Column("connector_id", String(100), primary_key=True),
    Column("lead_id", String(64), primary_key=True),
    Column("record_id", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_router_crm_records_record", crm_records.c.connector_id, crm_records.c.record_id)

# CRM activities taken in, by the CRM's id: a second webhook about one is a no-op.
crm_activities = Table(
    "router_crm_activities",
    metadata,
    Column("connector_id", String(100), primary_key=True),
    Column("external_id", String(100), primary_key=True),
    Column("activity_id", String(36), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

# Account owners synced from a CRM (router/connectors/accounts.py): each connector's sync,
# leased by one replica at a time, and the CRM's accounts whose owner is no rep.
account_syncs = Table(
    "router_account_syncs",
    metadata,
    Column("connector_id", String(100), primary_key=True),
    Column("cursor", Text, nullable=True),
    Column("next_run_at", UTCDateTime, nullable=True),
    Column("lease_id", String(36), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("last_started_at", UTCDateTime, nullable=True),
    Column("last_finished_at", UTCDateTime, nullable=True),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("counts", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

account_sync_unmatched = Table(
    "router_account_sync_unmatched",
    metadata,
    Column("connector_id", String(100), primary_key=True),
    Column("domain", String(255), primary_key=True),
    Column("owner_id", String(100), nullable=True),
    Column("external_id", String(100), nullable=False),
    Column("name", String(300), nullable=True),
    Column("seen_at", UTCDateTime, nullable=False),
)

# Backtests (services/backtests.py): a candidate replayed over an archived window, its
# progress and, once done, its comparison with the current configuration; kept until deleted.
backtests = backtests_table("router_backtests", metadata)
