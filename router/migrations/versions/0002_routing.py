"""router: rep calendars and caps, teams, accounts, pools, rules, per-lead routing state,
assignment history with explanations and SLA state, opportunities, webhook subscriptions
and deliveries.

`router_assignments` was one row per lead; it becomes one row per assignment (a lead that
is reassigned has several) and the per-lead state moves to `router_leads`. Existing rows
are carried over: their profiles were never stored, so they get an empty one.

Revision ID: router_0002
Revises: router_0001
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import Json, UTCDateTime

revision = "router_0002"
down_revision = "router_0001"
branch_labels = None
depends_on = None

WORKING_HOURS = (
    '{"mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "wed": ["09:00-17:00"], '
    '"thu": ["09:00-17:00"], "fri": ["09:00-17:00"]}'
)


def _assignments_table(schema: str | None) -> sa.Table:
    table = op.create_table(
        "router_assignments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("pool", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("explanation", Json, nullable=False),
        sa.Column("assigned_at", UTCDateTime, nullable=False),
        sa.Column("accepted_at", UTCDateTime, nullable=True),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("first_touch_due_at", UTCDateTime, nullable=False),
        sa.Column("touched_at", UTCDateTime, nullable=True),
        sa.Column("first_touch", sa.String(12), nullable=False),
        sa.Column("first_touch_resolved_at", UTCDateTime, nullable=True),
        sa.Column("cadence_due_at", UTCDateTime, nullable=False),
        sa.Column("cadence", sa.String(12), nullable=False),
        sa.Column("cadence_resolved_at", UTCDateTime, nullable=True),
        sa.Column("calls_required", sa.Integer, nullable=False),
        sa.Column("emails_required", sa.Integer, nullable=False),
        sa.Column("min_spacing_minutes", sa.Float, nullable=False),
        sa.Column("calls_made", sa.Integer, nullable=False),
        sa.Column("emails_made", sa.Integer, nullable=False),
        sa.Column("calls_counted", sa.Integer, nullable=False),
        sa.Column("emails_counted", sa.Integer, nullable=False),
        sa.Column("last_call_at", UTCDateTime, nullable=True),
        sa.Column("last_email_at", UTCDateTime, nullable=True),
        sa.Column("connected_at", UTCDateTime, nullable=True),
        schema=schema,
    )
    op.create_index("ix_router_assignments_lead", "router_assignments", ["lead_id"], schema=schema)
    op.create_index(
        "ix_router_assignments_rep",
        "router_assignments",
        ["rep_id", "assigned_at"],
        schema=schema,
    )
    return table


def upgrade() -> None:
    schema = target_schema()
    bind = op.get_bind()

    with op.batch_alter_table("router_reps", schema=schema) as batch:
        batch.add_column(
            sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC")
        )
        batch.add_column(
            sa.Column("working_hours", Json, nullable=False, server_default=WORKING_HOURS)
        )
        batch.add_column(sa.Column("languages", Json, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("territories", Json, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("max_open_leads", sa.Integer, nullable=True))
        batch.add_column(sa.Column("daily_cap", sa.Integer, nullable=True))
        batch.add_column(sa.Column("out_of_office", Json, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("team_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("suspended_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("suspended_reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("reinstated_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("updated_at", UTCDateTime, nullable=True))

    with op.batch_alter_table("router_activities", schema=schema) as batch:
        batch.add_column(sa.Column("assignment_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("counted", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("connected", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("note", sa.Text, nullable=True))

    op.create_table(
        "router_teams",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holidays", Json, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "router_accounts",
        sa.Column("domain", sa.String(255), primary_key=True),
        sa.Column("rep_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    pools = op.create_table(
        "router_pools",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("members", Json, nullable=False),
        sa.Column("teams", Json, nullable=False),
        sa.Column("outside_hours", sa.String(16), nullable=False),
        sa.Column("match_territory", sa.Boolean, nullable=False),
        sa.Column("match_language", sa.Boolean, nullable=False),
        sa.Column("owner_fallback", sa.String(32), nullable=False),
        sa.Column("sla", Json, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "router_rules",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("conditions", Json, nullable=False),
        sa.Column("pool", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "router_pool_reps",
        sa.Column("pool", sa.String(100), primary_key=True),
        sa.Column("rep_id", sa.String(64), primary_key=True),
        sa.Column("current", sa.Integer, nullable=False),
        sa.Column("assigned", sa.Integer, nullable=False),
        sa.Column("last_assigned_at", UTCDateTime, nullable=True),
        schema=schema,
    )
    leads = op.create_table(
        "router_leads",
        sa.Column("lead_id", sa.String(36), primary_key=True),
        sa.Column("profile", Json, nullable=False),
        sa.Column("score", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("assignment_id", sa.String(36), nullable=True),
        sa.Column("pool", sa.String(100), nullable=True),
        sa.Column("rule", sa.String(100), nullable=True),
        sa.Column("strategy", sa.String(32), nullable=True),
        sa.Column("queue", sa.String(32), nullable=True),
        sa.Column("held_until", UTCDateTime, nullable=True),
        sa.Column("explanation", Json, nullable=True),
        sa.Column("reassignments", sa.Integer, nullable=False),
        sa.Column("return_reason", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index(
        "ix_router_leads_rep_status", "router_leads", ["rep_id", "status"], schema=schema
    )
    op.create_index("ix_router_leads_status", "router_leads", ["status"], schema=schema)
    op.create_table(
        "router_opportunities",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36), nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("amount", sa.Numeric(16, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_router_opportunities_lead", "router_opportunities", ["lead_id"], schema=schema
    )
    op.create_table(
        "router_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", Json, nullable=False),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_table(
        "router_webhook_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("last_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_router_deliveries_due",
        "router_webhook_deliveries",
        ["status", "next_attempt_at"],
        schema=schema,
    )
    op.create_index(
        "ix_router_deliveries_subscription",
        "router_webhook_deliveries",
        ["subscription_id", "created_at"],
        schema=schema,
    )

    # router_assignments: one row per lead -> one row per assignment; state to router_leads.
    old = sa.table(
        "router_assignments",
        sa.column("id", sa.String),
        sa.column("lead_id", sa.String),
        sa.column("rep_id", sa.String),
        sa.column("status", sa.String),
        sa.column("pool", sa.String),
        sa.column("rule", sa.String),
        sa.column("first_touch_due_at", UTCDateTime),
        sa.column("touched_at", UTCDateTime),
        sa.column("created_at", UTCDateTime),
        schema=schema,
    )
    rows = bind.execute(sa.select(old)).all()
    op.drop_table("router_assignments", schema=schema)
    new = _assignments_table(schema)
    now = datetime.now(UTC)
    migrated = {"migrated": "from router_0001, which kept no explanation"}
    if rows:
        op.bulk_insert(
            leads,
            [
                {
                    "lead_id": r.lead_id,
                    "profile": {"source": "unknown"},
                    "score": None,
                    "status": "assigned" if r.rep_id else "queued",
                    "rep_id": r.rep_id,
                    "assignment_id": r.id if r.rep_id else None,
                    "pool": r.pool,
                    "rule": r.rule,
                    "strategy": "round_robin",
                    "queue": None if r.rep_id else "fallback",
                    "held_until": None,
                    "explanation": migrated,
                    "reassignments": 0,
                    "return_reason": None,
                    "created_at": r.created_at,
                    "updated_at": now,
                }
                for r in rows
            ],
        )
        assigned = [r for r in rows if r.rep_id]
        if assigned:
            op.bulk_insert(
                new,
                [
                    {
                        "id": r.id,
                        "lead_id": r.lead_id,
                        "rep_id": r.rep_id,
                        "kind": "assigned",
                        "pool": r.pool,
                        "rule": r.rule,
                        "strategy": "round_robin",
                        "explanation": migrated,
                        "assigned_at": r.created_at,
                        "first_touch_due_at": r.first_touch_due_at or r.created_at,
                        "touched_at": r.touched_at,
                        "first_touch": "met" if r.touched_at else "pending",
                        "first_touch_resolved_at": r.touched_at,
                        "cadence_due_at": r.created_at + timedelta(days=14),
                        "cadence": "void",
                        "calls_required": 4,
                        "emails_required": 2,
                        "min_spacing_minutes": 60.0,
                        "calls_made": 0,
                        "emails_made": 0,
                        "calls_counted": 0,
                        "emails_counted": 0,
                    }
                    for r in assigned
                ],
            )
    op.bulk_insert(
        pools,
        [
            {
                "id": "everyone",
                "name": "Everyone",
                "strategy": "weighted_round_robin",
                "members": [],
                "teams": [],
                "outside_hours": "assign",
                "match_territory": False,
                "match_language": False,
                "owner_fallback": "round_robin",
                "sla": {},
                "created_at": now,
                "updated_at": now,
            }
        ],
    )


def downgrade() -> None:
    schema = target_schema()
    bind = op.get_bind()
    leads = sa.table(
        "router_leads",
        sa.column("lead_id", sa.String),
        sa.column("rep_id", sa.String),
        sa.column("assignment_id", sa.String),
        sa.column("status", sa.String),
        sa.column("pool", sa.String),
        sa.column("rule", sa.String),
        sa.column("created_at", UTCDateTime),
        schema=schema,
    )
    current = sa.table(
        "router_assignments",
        sa.column("id", sa.String),
        sa.column("first_touch_due_at", UTCDateTime),
        sa.column("touched_at", UTCDateTime),
        schema=schema,
    )
    rows = bind.execute(
        sa.select(leads, current.c.first_touch_due_at, current.c.touched_at).select_from(
            leads.outerjoin(current, current.c.id == leads.c.assignment_id)
        )
    ).all()
    for table in (
        "router_webhook_deliveries",
        "router_subscriptions",
        "router_opportunities",
        "router_assignments",
        "router_leads",
        "router_pool_reps",
        "router_rules",
        "router_pools",
        "router_accounts",
        "router_teams",
    ):
        op.drop_table(table, schema=schema)
    old = op.create_table(
        "router_assignments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("lead_id", sa.String(36), nullable=False, unique=True),
        sa.Column("rep_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pool", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("first_touch_due_at", UTCDateTime, nullable=True),
        sa.Column("touched_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_router_assignments_rep", "router_assignments", ["rep_id"], schema=schema)
    if rows:
        op.bulk_insert(
            old,
            [
                {
                    "id": r.assignment_id or r.lead_id,
                    "lead_id": r.lead_id,
                    "rep_id": r.rep_id,
                    "status": "assigned" if r.rep_id else "queued",
                    "pool": r.pool or "everyone",
                    "rule": r.rule or "default",
                    "first_touch_due_at": r.first_touch_due_at,
                    "touched_at": r.touched_at,
                    "created_at": r.created_at,
                }
                for r in rows
            ],
        )
    with op.batch_alter_table("router_activities", schema=schema) as batch:
        for column in ("note", "connected", "counted", "assignment_id"):
            batch.drop_column(column)
    with op.batch_alter_table("router_reps", schema=schema) as batch:
        for column in (
            "updated_at",
            "reinstated_at",
            "suspended_reason",
            "suspended_at",
            "team_id",
            "out_of_office",
            "daily_cap",
            "max_open_leads",
            "territories",
            "languages",
            "working_hours",
            "time_zone",
        ):
            batch.drop_column(column)
