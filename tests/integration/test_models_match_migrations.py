"""Each migration stream builds exactly the tables its models describe, on SQLite and on
PostgreSQL: Alembic's autogenerate comparison of the migrated database with the stream's
`MetaData` finds nothing to add, drop or change (issue 17, item 6). A model changed without
a migration, or a migration without its model, fails here rather than in production."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData

from contracts.topics import SERVICES, ServiceName
from services import tables
from services.db import Database
from services.migrate import upgrade
from services.runtime import builder_of
from tests import infra


def _migrations(service: ServiceName) -> Path:
    module = importlib.import_module(builder_of(service).__module__)
    return Path(module.__file__ or "").parent / "migrations"


def _metadata(stream: str) -> MetaData:
    if stream == "chassis":
        return tables.metadata
    metadata: MetaData = importlib.import_module(f"{stream}.models").metadata
    return metadata


def _differences(connection: Connection, metadata: MetaData) -> list[Any]:
    """What autogenerate would write to make the database match `metadata`, about the
    stream's own tables (the database also holds other streams' tables)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    own = set(metadata.tables)

    def about_own(diff: Any) -> bool:
        if isinstance(diff, tuple) and diff[0] == "remove_table":
            return bool(diff[1].name in own)
        if isinstance(diff, tuple) and diff[0] == "remove_index":
            return bool(diff[1].table.name in own)
        return True

    return [d for d in compare_metadata(context, metadata) if about_own(d)]


STREAMS = ["chassis", *SERVICES]


async def test_every_stream_matches_its_models_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'leadfarm.db'}")
    try:
        await upgrade(db, {s: _migrations(s) for s in SERVICES})
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(
                lambda c: {s: _differences(c, _metadata(s)) for s in STREAMS}
            )
    finally:
        await db.dispose()
    assert differences == {s: [] for s in STREAMS}


@pytest.fixture
def pg_empty() -> Iterator[infra.ScratchDatabase]:
    infra.require_postgres()
    db = infra.create_database()
    yield db
    infra.drop_database(db)


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
async def test_every_stream_matches_its_models_on_postgresql(
    service: ServiceName, pg_empty: infra.ScratchDatabase
) -> None:
    """A service's schema holds its own tables and its copy of the chassis's."""
    db = Database(pg_empty.url, service=service)
    try:
        await upgrade(db, {service: _migrations(service)})
        async with db.engine.connect() as conn:
            differences = await conn.run_sync(
                lambda c: {s: _differences(c, _metadata(s)) for s in ("chassis", service)}
            )
    finally:
        await db.dispose()
    assert differences == {"chassis": [], service: []}
