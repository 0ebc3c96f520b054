"""On PostgreSQL a consumer's transaction opens with one statement: the inbox claim, which
also reads the tombstones of the batch's leads and the service's reference versions, so
that the erasure guard and the reference data ask nothing more (services/inbox.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from services.clock import SystemClock
from services.db import UnitOfWork
from services.erasure import put_tombstone, tombstoned, tombstoned_among
from services.inbox import claim
from services.reference import Reference, bump
from tests import infra
from tests.scenarios.services import pg_unit, statements_of

pytestmark = pytest.mark.integration


@pytest.fixture
async def unit(pg_database: infra.ScratchDatabase) -> AsyncIterator[UnitOfWork]:
    async with pg_unit(pg_database.url, "router", SystemClock(), "opening") as unit:
        yield unit


async def test_the_claim_reads_the_tombstones_and_the_versions_in_the_same_statement(
    unit: UnitOfWork,
) -> None:
    rules = {"version": "v1"}

    async def load(_: AsyncConnection) -> str:
        return rules["version"]

    reference = Reference("router", "rules", load)
    async with unit.transaction() as tx:
        await put_tombstone(tx, "lead-gone", "erasure-1")
        await bump(tx, "rules")
    async with unit.transaction() as tx:
        assert await reference.current(tx) == "v1"  # the copy is kept from here on

    seen = statements_of(unit)
    async with unit.transaction() as tx:
        assert await claim(tx, "router.test", {"e1", "e2"}, {"lead-1", "lead-gone"}) == {
            "e1",
            "e2",
        }
        assert await tombstoned_among(tx, {"lead-gone", "lead-1"}) == {"lead-gone"}
        assert await reference.current(tx) == "v1"
    assert len(seen) == 1, seen
    assert seen[0].startswith("WITH claimed AS ( INSERT INTO inbox")


async def test_what_the_transaction_writes_and_what_it_did_not_read_are_still_seen(
    unit: UnitOfWork,
) -> None:
    rules = {"version": "v1"}

    async def load(_: AsyncConnection) -> str:
        return rules["version"]

    reference = Reference("router", "rules", load)
    async with unit.transaction() as tx:
        assert await claim(tx, "router.test", {"e1"}, {"lead-1"}) == {"e1"}
        assert await tombstoned_among(tx, {"lead-1"}) == set()
        await put_tombstone(tx, "lead-1", "erasure-2")  # an erasure earlier in the batch
        assert await tombstoned_among(tx, {"lead-1"}) == {"lead-1"}
        assert await tombstoned(tx, "lead-1")
    async with unit.transaction() as tx:
        await put_tombstone(tx, "lead-2", "erasure-3")
    async with unit.transaction() as tx:
        # A lead the opening did not look at is read as before.
        assert await claim(tx, "router.test", {"e2", "e1"}, {"lead-3"}) == {"e2"}
        assert await tombstoned_among(tx, {"lead-2"}) == {"lead-2"}
    async with unit.transaction() as tx:
        rules["version"] = "v2"
        await bump(tx, "rules")
    async with unit.transaction() as tx:
        await claim(tx, "router.test", {"e3"}, ())
        assert await reference.current(tx) == "v2"
