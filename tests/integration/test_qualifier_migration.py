"""Qualifier migrations carry old data over, on SQLite and on PostgreSQL. qualifier_0004:
a lead stored before it takes the time its profile was last stored as its last intent
signal, so its intent starts to age from there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, select, text

from qualifier.models import decisions, leads
from services.db import Database
from services.migrate import upgrade
from tests import infra

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MIGRATIONS = Path(__file__).parents[2] / "qualifier" / "migrations"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    infra.require_postgres()
    scratch = infra.create_database()
    try:
        yield scratch.url
    finally:
        infra.drop_database(scratch)


def _to_revision(connection: Connection, schema: str | None, revision: str) -> None:
    if schema:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    config.attributes["version_table"] = (
        "alembic_version" if schema else "alembic_version_qualifier"
    )
    command.upgrade(config, revision)


async def test_qualifier_0004_dates_a_stored_leads_intent_from_its_last_profile(
    database_url: str,
) -> None:
    database = Database(database_url, service="qualifier")
    schema = None if database.is_sqlite else "qualifier"
    try:
        async with database.engine.connect() as conn:
            await conn.run_sync(_to_revision, schema, "qualifier_0003")
            await conn.commit()
            await conn.execute(
                text(
                    "INSERT INTO qualifier_leads (lead_id, profile, updated_at) "
                    "VALUES ('lead-1', '{\"source\": \"website\"}', :t)"
                ),
                {"t": T0},
            )
            await conn.commit()

        await upgrade(database, {"qualifier": MIGRATIONS})

        async with database.connect() as conn:
            (lead,) = (await conn.execute(select(leads))).all()
            assert (await conn.execute(select(decisions))).all() == [], "intent_decay exists"
    finally:
        await database.dispose()
    assert lead.intent_at == T0
