"""Reference data in memory: loaded once, reloaded only after a bump that committed."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from services.clock import ManualClock
from services.reference import Reference, bump
from tests.scenarios.services import chassis_unit


async def test_reference_data_is_loaded_once_and_again_only_when_bumped(tmp_path: Path) -> None:
    loads: list[int] = []
    value = {"rules": 1}

    async def load(conn: AsyncConnection) -> int:
        loads.append(value["rules"])
        return value["rules"]

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        rules = Reference(unit.service, "rules", load)
        async with unit.read() as conn:
            assert await rules.current(conn) == 1
            assert await rules.current(conn) == 1
        assert loads == [1]

        value["rules"] = 2
        with contextlib.suppress(RuntimeError):
            async with unit.transaction() as tx:
                await bump(tx, "rules")
                raise RuntimeError("the change is rolled back")
        async with unit.read() as conn:
            assert await rules.current(conn) == 1  # nothing committed, nothing reloaded
        assert loads == [1]

        async with unit.transaction() as tx:
            await bump(tx, "rules")
        async with unit.transaction() as tx:
            assert await rules.current(tx) == 2
        assert loads == [1, 2]

        other = Reference("qualifier", "rules", load)  # another service's version is its own
        async with unit.read() as conn:
            await other.current(conn)
        async with unit.transaction() as tx:
            await bump(tx, "rules")
        async with unit.read() as conn:
            await other.current(conn)
        assert loads == [1, 2, 2]


async def test_what_a_transaction_that_bumped_reads_is_not_kept(tmp_path: Path) -> None:
    value = {"rules": 1}

    async def load(conn: AsyncConnection) -> int:
        return value["rules"]

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        rules = Reference(unit.service, "rules", load)
        async with unit.read() as conn:
            assert await rules.current(conn) == 1

        value["rules"] = 2
        with contextlib.suppress(RuntimeError):
            async with unit.transaction() as tx:
                await bump(tx, "rules")
                assert await rules.current(tx) == 2, "a transaction sees its own change"
                raise RuntimeError("the change is rolled back")

        # Another change commits under the version number the rolled-back one had.
        value["rules"] = 3
        async with unit.transaction() as tx:
            await bump(tx, "rules")
        async with unit.read() as conn:
            assert await rules.current(conn) == 3


async def test_on_sqlite_a_write_transaction_reads_no_version_until_a_bump_commits(
    tmp_path: Path,
) -> None:
    """This process is the embedded database's only writer: a batch's transaction takes
    the kept copy without a statement, and the next one after a committed change reloads."""
    value = {"rules": 1}

    async def load(conn: AsyncConnection) -> int:
        return value["rules"]

    async with chassis_unit(tmp_path, ManualClock()) as unit:
        rules = Reference(unit.service, "rules", load)
        statements: list[str] = []

        def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        event.listen(unit.database.engine.sync_engine, "before_cursor_execute", note)
        async with unit.transaction() as tx:
            assert await rules.current(tx) == 1
        assert any("reference_versions" in s for s in statements)
        statements.clear()
        async with unit.transaction() as tx:
            assert await rules.current(tx) == 1
        assert not any("reference_versions" in s for s in statements)

        value["rules"] = 2
        with contextlib.suppress(RuntimeError):
            async with unit.transaction() as tx:
                await bump(tx, "rules")
                raise RuntimeError("rolled back: no change counted")
        async with unit.transaction() as tx:
            assert await rules.current(tx) == 1
        async with unit.transaction() as tx:
            await bump(tx, "rules")
        async with unit.transaction() as tx:
            assert await rules.current(tx) == 2
