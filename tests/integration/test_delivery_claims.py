"""Claiming due webhook deliveries (router/repository/deliveries.py), on SQLite and on
PostgreSQL: each subscription gets its share first, free slots then go oldest first, and
the lease returns what sending needs (payload, attempts, trace context) in due order.
Also the sweep of connector deliveries whose connector is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from sqlalchemy import select

from router.connectors.repository.deliveries import delete_orphans
from router.models import connector_deliveries, connectors, deliveries, subscriptions
from router.repository.deliveries import claim_due
from services import statements
from services.clock import ManualClock
from services.db import UnitOfWork
from tests.scenarios.router import BOTH_DATABASES, connector_row, router_unit
from tests.scenarios.services import sqlite_work

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LEASE = NOW + timedelta(seconds=30)


@pytest.fixture(params=BOTH_DATABASES)
async def unit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UnitOfWork]:
    async with router_unit(request, tmp_path, ManualClock(NOW)) as unit:
        yield unit


def _delivery(id_: str, subscription: str, due_in_s: float, **values: object) -> dict[str, object]:
    return {
        "id": id_,
        "subscription_id": subscription,
        "event_id": f"event-{id_}",
        "event_type": "lead.assigned",
        "lead_id": f"lead-{id_}",
        "payload": f'{{"delivery": "{id_}"}}',
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": NOW + timedelta(seconds=due_in_s),
        "expires_at": NOW + timedelta(days=1),
        "created_at": NOW - timedelta(minutes=5),
        "traceparent": None,
        **values,
    }


def _subscription(id_: str) -> dict[str, object]:
    return {
        "id": id_,
        "url": f"https://tools.example/{id_}",
        "event_types": ["lead.assigned"],
        "secret": f"whsec_{id_}",
        "active": True,
        "created_at": NOW,
        "updated_at": NOW,
    }


async def _store(unit: UnitOfWork) -> None:
    async with unit.transaction() as tx:
        await tx.conn.execute(
            subscriptions.insert(),
            [_subscription(s) for s in ("a", "b")],
        )
        await tx.conn.execute(
            deliveries.insert(),
            [
                _delivery(
                    "a1",
                    "a",
                    -40,
                    attempts=2,
                    traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
                ),
                _delivery("a2", "a", -30),
                _delivery("a3", "a", -20),
                _delivery("b1", "b", -10),
                _delivery("a4", "a", 60),  # not due yet
                _delivery("a0", "a", -50, status="delivered"),
            ],
        )


async def _lease_of(unit: UnitOfWork, id_: str) -> datetime | None:
    async with unit.read() as conn:
        value = await conn.scalar(
            select(deliveries.c.next_attempt_at).where(deliveries.c.id == id_)
        )
        assert value is None or isinstance(value, datetime)
        return value


async def test_a_claim_shares_slots_fairly_and_returns_what_sending_needs(
    unit: UnitOfWork,
) -> None:
    await _store(unit)
    async with unit.transaction() as tx:
        claimed = await claim_due(tx, NOW, LEASE, 4, per_subscription=1, in_flight={})
    # Each subscription's share first (a1, then b1 although a2 and a3 are older), then the
    # free slots beyond the shares but one share's worth (kept for a newcomer): one, to the
    # oldest left (a2); a3 waits.
    assert [c.id for c in claimed] == ["a1", "b1", "a2"]
    first = claimed[0]
    assert (first.subscription_id, first.url, first.secret) == (
        "a",
        "https://tools.example/a",
        "whsec_a",
    )
    assert (first.event_id, first.payload, first.attempts) == (
        "event-a1",
        '{"delivery": "a1"}',
        2,
    )
    assert first.traceparent == "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    assert first.expires_at == NOW + timedelta(days=1)
    for id_ in ("a1", "b1", "a2"):
        assert await _lease_of(unit, id_) == LEASE
    assert await _lease_of(unit, "a3") == NOW - timedelta(seconds=20)


async def test_leased_deliveries_are_not_claimed_again_until_the_lease_ends(
    unit: UnitOfWork,
) -> None:
    await _store(unit)
    async with unit.transaction() as tx:
        assert [c.id for c in await claim_due(tx, NOW, LEASE, 2)] == ["a1", "a2"]
    async with unit.transaction() as tx:
        assert [c.id for c in await claim_due(tx, NOW, LEASE, 10)] == ["a3", "b1"]
    async with unit.transaction() as tx:
        assert await claim_due(tx, NOW, LEASE, 10) == []
    later = NOW + timedelta(seconds=61)  # the leases have ended, and a4 is due
    async with unit.transaction() as tx:
        again = await claim_due(tx, later, later + timedelta(seconds=30), 10)
    assert sorted(c.id for c in again) == ["a1", "a2", "a3", "a4", "b1"]


async def test_a_subscription_with_its_share_in_flight_is_not_even_read(
    unit: UnitOfWork,
) -> None:
    await _store(unit)
    async with unit.transaction() as tx:
        claimed = await claim_due(tx, NOW, LEASE, 2, per_subscription=1, in_flight={"a": 1})
    assert [c.id for c in claimed] == ["b1"]


async def test_a_delivery_whose_subscription_was_deleted_is_removed_not_leased_forever(
    unit: UnitOfWork,
) -> None:
    """Queued by a routing transaction that read the subscription before its delete
    committed: the claim that finds it removes it, as the delete removed the others."""
    await _store(unit)
    async with unit.transaction() as tx:
        await tx.conn.execute(deliveries.insert(), [_delivery("gone1", "gone", -60)])
    async with unit.transaction() as tx:
        claimed = await claim_due(tx, NOW, LEASE, 10)
    assert [c.id for c in claimed] == ["a1", "a2", "a3", "b1"]
    async with unit.read() as conn:
        left = await conn.scalar(select(deliveries.c.id).where(deliveries.c.id == "gone1"))
    assert left is None
    later = NOW + timedelta(minutes=5)  # every lease has ended
    async with unit.transaction() as tx:
        again = await claim_due(tx, later, later + timedelta(seconds=30), 10)
    assert "gone1" not in {c.id for c in again}


async def _vm_steps_of_a_claim(unit: UnitOfWork, backlog: int) -> tuple[list[str], int]:
    """A claim with subscription `a`'s share running and `backlog` of its deliveries due
    before `b`'s one: what it took, and the work SQLite did."""
    async with unit.transaction() as tx:
        await tx.conn.execute(
            deliveries.insert(),
            [_delivery(f"slow{i}", "a", -3600 + i) for i in range(backlog)],
        )
    async with unit.transaction() as tx:
        with sqlite_work(tx) as work:
            claimed = await claim_due(tx, NOW, LEASE, 2, per_subscription=1, in_flight={"a": 1})
    return [c.id for c in claimed], work[0]


async def test_a_claim_does_not_read_the_backlog_of_a_subscription_with_its_share_running(
    tmp_path: Path,
) -> None:
    """A slow receiver keeps its share in flight and its backlog grows: every claim used to
    read past that backlog (in due order) to find the other subscriptions' deliveries."""
    steps = {}
    for backlog in (20, 2_000):
        where = tmp_path / str(backlog)
        where.mkdir()
        on_sqlite = cast(pytest.FixtureRequest, SimpleNamespace(param="sqlite"))
        async with router_unit(on_sqlite, where, ManualClock(NOW)) as unit:
            await _store(unit)
            claimed, steps[backlog] = await _vm_steps_of_a_claim(unit, backlog)
        assert claimed == ["b1"]
    assert steps[2_000] < steps[20] * 1.5, steps


async def test_a_claim_reads_many_subscriptions_in_chunks(
    unit: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More subscriptions than one statement seeks: each still gets its share, oldest
    first across them."""
    monkeypatch.setattr(statements, "QUEUE_BRANCHES", 2)
    names = [f"s{i}" for i in range(5)]
    async with unit.transaction() as tx:
        await tx.conn.execute(
            subscriptions.insert(),
            [_subscription(s) for s in names],
        )
        await tx.conn.execute(
            deliveries.insert(),
            [
                _delivery(f"{s}-{n}", s, -100 + i * 10 + n)
                for i, s in enumerate(names)
                for n in (0, 1)
            ],
        )
    async with unit.transaction() as tx:
        claimed = await claim_due(tx, NOW, LEASE, 5, per_subscription=1, in_flight={"s1": 1})
    # s1 has its share running; the others one each, oldest first; then one slot beyond the
    # shares but one share's worth would be free, and there is none (5 - 1 - 4 = 0).
    assert [c.id for c in claimed] == ["s0-0", "s2-0", "s3-0", "s4-0"]


async def test_connector_deliveries_of_a_deleted_connector_are_swept(unit: UnitOfWork) -> None:
    async with unit.transaction() as tx:
        await tx.conn.execute(connectors.insert(), connector_row("crm", NOW))
        await tx.conn.execute(
            connector_deliveries.insert(),
            [
                {
                    **{
                        k: v
                        for k, v in _delivery(id_, "", -10, status=status).items()
                        if k not in ("subscription_id", "traceparent")
                    },
                    "connector_id": connector,
                }
                for id_, connector, status in (
                    ("kept", "crm", "pending"),
                    ("orphan", "gone", "pending"),
                    ("orphan-sent", "gone", "delivered"),  # its history stays
                )
            ],
        )
    async with unit.transaction() as tx:
        assert await delete_orphans(tx) == 1
    async with unit.read() as conn:
        left = await conn.scalars(select(connector_deliveries.c.id).order_by("id"))
        assert list(left) == ["kept", "orphan-sent"]
