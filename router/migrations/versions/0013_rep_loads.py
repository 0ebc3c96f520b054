"""router: each rep's open leads and assignments of the day as counters
(`router_rep_loads`), so a routing decision reads a rep's load instead of counting their
leads (a read that grew with every lead a rep holds, under the pool's lock).

`open_leads` is kept by triggers on `router_leads`: whatever statement inserts, deletes or
changes a lead's rep or status moves the counts of the reps concerned, in the same
transaction. Existing open leads are counted once here. `assigned_that_day` starts unknown
(no `day_start`): the first decision for each rep counts that day's assignments once.

SQLite's batch mode (`op.batch_alter_table`) rebuilds a table and drops its triggers: a
later migration that rebuilds `router_leads` must create them again (`create_triggers`).
tests/integration/test_rep_loads.py fails if they are missing at head.

Revision ID: router_0013
Revises: router_0012
"""

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import UTCDateTime

revision = "router_0013"
down_revision = "router_0012"
branch_labels = None
depends_on = None

_OPEN = "('assigned', 'accepted')"  # router.records.OPEN_STATUSES, as SQL


def _name(schema: str | None, name: str) -> str:
    return f'"{schema}".{name}' if schema else name


def create_triggers(schema: str | None) -> None:
    """The triggers that keep `router_rep_loads.open_leads` (PostgreSQL or SQLite)."""
    loads, leads = _name(schema, "router_rep_loads"), _name(schema, "router_leads")
    if schema is None:  # SQLite: one trigger per event, row by row
        add = (
            "INSERT INTO router_rep_loads (rep_id, open_leads)"
            f" SELECT NEW.rep_id, 1 WHERE NEW.rep_id IS NOT NULL AND NEW.status IN {_OPEN}"
            " ON CONFLICT (rep_id) DO UPDATE SET open_leads = open_leads + 1"
        )
        remove = (
            "UPDATE router_rep_loads SET open_leads = open_leads - 1"  # noqa: S608 - constants
            f" WHERE rep_id = OLD.rep_id AND OLD.status IN {_OPEN}"
        )
        for event, when, body in (
            ("INSERT", f"NEW.rep_id IS NOT NULL AND NEW.status IN {_OPEN}", f"{add};"),
            ("DELETE", f"OLD.rep_id IS NOT NULL AND OLD.status IN {_OPEN}", f"{remove};"),
            (
                "UPDATE OF status, rep_id",
                "OLD.status IS NOT NEW.status OR OLD.rep_id IS NOT NEW.rep_id",
                f"{remove}; {add};",
            ),
        ):
            op.execute(
                f"CREATE TRIGGER router_leads_open_{event.split()[0].lower()}"
                f" AFTER {event} ON router_leads WHEN {when} BEGIN {body} END"
            )
        return
    op.execute(
        f"CREATE FUNCTION {_name(schema, 'router_count_open_leads')}() RETURNS trigger"  # noqa: S608
        " LANGUAGE plpgsql AS $$ BEGIN"
        f" IF TG_OP <> 'INSERT' AND OLD.rep_id IS NOT NULL AND OLD.status IN {_OPEN} THEN"
        f"  UPDATE {loads} SET open_leads = open_leads - 1 WHERE rep_id = OLD.rep_id;"
        " END IF;"
        f" IF TG_OP <> 'DELETE' AND NEW.rep_id IS NOT NULL AND NEW.status IN {_OPEN} THEN"
        f"  INSERT INTO {loads} AS l (rep_id, open_leads) VALUES (NEW.rep_id, 1)"
        "  ON CONFLICT (rep_id) DO UPDATE SET open_leads = l.open_leads + 1;"
        " END IF;"
        " RETURN NULL;"
        " END $$"
    )
    for event, when in (
        ("INSERT", f"NEW.rep_id IS NOT NULL AND NEW.status IN {_OPEN}"),
        ("DELETE", f"OLD.rep_id IS NOT NULL AND OLD.status IN {_OPEN}"),
        (
            "UPDATE OF status, rep_id",
            "OLD.status IS DISTINCT FROM NEW.status OR OLD.rep_id IS DISTINCT FROM NEW.rep_id",
        ),
    ):
        op.execute(
            f"CREATE TRIGGER router_leads_open_{event.split()[0].lower()}"
            f" AFTER {event} ON {leads} FOR EACH ROW WHEN ({when})"
            f" EXECUTE FUNCTION {_name(schema, 'router_count_open_leads')}()"
        )


def drop_triggers(schema: str | None) -> None:
    leads = _name(schema, "router_leads")
    for event in ("insert", "delete", "update"):
        on = "" if schema is None else f" ON {leads}"
        op.execute(f"DROP TRIGGER IF EXISTS router_leads_open_{event}{on}")
    if schema is not None:
        op.execute(f"DROP FUNCTION IF EXISTS {_name(schema, 'router_count_open_leads')}()")


def upgrade() -> None:
    schema = target_schema()
    op.create_table(
        "router_rep_loads",
        sa.Column("rep_id", sa.String(64), primary_key=True),
        sa.Column("open_leads", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("day_start", UTCDateTime, nullable=True),
        sa.Column("assigned_that_day", sa.Integer, nullable=False, server_default=sa.text("0")),
        schema=schema,
    )
    op.execute(
        f"INSERT INTO {_name(schema, 'router_rep_loads')} (rep_id, open_leads)"  # noqa: S608
        f" SELECT rep_id, count(*) FROM {_name(schema, 'router_leads')}"
        f" WHERE rep_id IS NOT NULL AND status IN {_OPEN} GROUP BY rep_id"
    )
    create_triggers(schema)


def downgrade() -> None:
    schema = target_schema()
    drop_triggers(schema)
    op.drop_table("router_rep_loads", schema=schema)
