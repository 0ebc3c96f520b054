"""Moving a service's erasure tombstones from its own `<service>_erased` table into the
chassis's `tombstones` (chassis_0003) and back: the body of each service's migration that
made the move, so the four are one piece of code. The chassis stream runs before every
service stream (services/migrate.py, `streams_for`), so `tombstones` is there when a
service's migration runs.

The tables are spelled out here as they were when the move was made, not imported from the
models, so the migrations keep doing what they did when the models change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.migrate import target_schema
from services.sqltypes import UTCDateTime


def tombstones_table(schema: str | None) -> sa.TableClause:
    """`tombstones` as chassis_0003 made it."""
    return sa.table(
        "tombstones",
        sa.column("service", sa.String),
        sa.column("lead_id", sa.String),
        sa.column("erasure_id", sa.String),
        sa.column("erased_at", UTCDateTime),
        schema=schema,
    )


def own_table(service: str, schema: str | None) -> sa.TableClause:
    """A service's `<service>_erased` as its migration 0003 made it."""
    return sa.table(
        f"{service}_erased",
        sa.column("lead_id", sa.String),
        sa.column("erasure_id", sa.String),
        sa.column("erased_at", UTCDateTime),
        schema=schema,
    )


def move_to_chassis(service: str) -> None:
    """Copy the service's tombstones into `tombstones` and drop `<service>_erased`."""
    schema = target_schema()
    own, chassis = own_table(service, schema), tombstones_table(schema)
    op.execute(
        chassis.insert().from_select(
            ["service", "lead_id", "erasure_id", "erased_at"],
            sa.select(
                sa.literal(service, sa.String), own.c.lead_id, own.c.erasure_id, own.c.erased_at
            ),
        )
    )
    op.drop_table(f"{service}_erased", schema=schema)


def move_back(service: str) -> None:
    """The downgrade: `<service>_erased` again, with the service's rows of `tombstones`."""
    schema = target_schema()
    op.create_table(
        f"{service}_erased",
        sa.Column("lead_id", sa.String(64), primary_key=True),
        sa.Column("erasure_id", sa.String(64), nullable=False),
        sa.Column("erased_at", UTCDateTime, nullable=False),
        schema=schema,
    )
    own, chassis = own_table(service, schema), tombstones_table(schema)
    op.execute(
        own.insert().from_select(
            ["lead_id", "erasure_id", "erased_at"],
            sa.select(chassis.c.lead_id, chassis.c.erasure_id, chassis.c.erased_at).where(
                chassis.c.service == service
            ),
        )
    )
    op.execute(chassis.delete().where(chassis.c.service == service))
