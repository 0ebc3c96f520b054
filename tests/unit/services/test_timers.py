"""Durable timers fire once, when due by the injected clock, and survive failures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prometheus_client import REGISTRY

from services import timers
from services.clock import ManualClock
from services.db import Tx
from services.timers import Timer, TimerRunner
from tests.scenarios.services import chassis_unit


async def test_a_timer_fires_once_when_due_and_can_be_replaced_or_cancelled(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    fired: list[tuple[str, dict[str, object]]] = []

    async def on_due(tx: Tx, timer: Timer) -> None:
        fired.append((timer.key, timer.payload))

    async with chassis_unit(tmp_path, clock) as unit:
        runner = TimerRunner(unit, {"ping": on_due}, poll_interval_s=60)
        async with unit.transaction() as tx:
            await timers.schedule(tx, "ping", "a", clock.now() + timedelta(minutes=5), {"n": 1})
            await timers.schedule(tx, "ping", "b", clock.now() + timedelta(minutes=5))
            await timers.schedule(tx, "ping", "b", clock.now() + timedelta(minutes=50))
            await timers.schedule(tx, "ping", "c", clock.now() + timedelta(minutes=1))
            await timers.cancel(tx, "ping", "c")

        assert await runner.fire_due() == 0
        clock.advance(timedelta(minutes=5))
        assert await runner.fire_due() == 1
        assert fired == [("a", {"n": 1})]
        assert await runner.fire_due() == 0, "fired timers do not fire again"
        clock.advance(timedelta(minutes=45))
        assert await runner.fire_due() == 1
        assert [k for k, _ in fired] == ["a", "b"]


async def test_a_failing_timer_is_retried_with_backoff_then_given_up(tmp_path: Path) -> None:
    clock = ManualClock()
    attempts: list[int] = []

    async def broken(tx: Tx, timer: Timer) -> None:
        attempts.append(1)
        raise RuntimeError("downstream down")

    async with chassis_unit(tmp_path, clock) as unit:
        runner = TimerRunner(unit, {"boom": broken}, poll_interval_s=60, max_attempts=3)
        async with unit.transaction() as tx:
            await timers.schedule(tx, "boom", "x", clock.now())
        await runner.fire_due()
        assert len(attempts) == 1
        assert await runner.fire_due() == 0, "not again before the backoff"
        async with unit.transaction() as tx:
            pending = await timers.pending(tx, "boom", "x")
        assert pending is not None
        assert pending.due_at == clock.now() + timedelta(seconds=2)
        for _ in range(5):
            clock.advance(timedelta(minutes=1))
            await runner.fire_due()
        assert len(attempts) == 3
        async with unit.transaction() as tx:
            assert await timers.pending(tx, "boom", "x") is None


async def test_a_given_up_timer_is_counted_listed_and_can_be_armed_again(tmp_path: Path) -> None:
    """Given up after its last attempt, a timer must not vanish into a log line: a metric
    counts it and the list shows it (with its error) until an operator arms it again."""
    clock = ManualClock()
    broken = True

    async def flaky(tx: Tx, timer: Timer) -> None:
        if broken or timer.key == "gone":
            raise RuntimeError("downstream down")

    def given_up_total() -> float:
        value = REGISTRY.get_sample_value(
            "leadfarm_timers_given_up_total", {"service": "router", "kind": "flaky"}
        )
        return value or 0.0

    async with chassis_unit(tmp_path, clock) as unit:
        runner = TimerRunner(unit, {"flaky": flaky}, poll_interval_s=60, max_attempts=2)
        async with unit.transaction() as tx:
            await timers.schedule(tx, "flaky", "gone", clock.now())
            await timers.schedule(tx, "flaky", "recovers", clock.now() + timedelta(seconds=1))
        before = given_up_total()
        await runner.fire_due()  # both fail once
        broken = False
        clock.advance(timedelta(minutes=1))
        await runner.fire_due()  # "gone" fails again and is given up; "recovers" fires
        assert given_up_total() == before + 1
        async with unit.read() as conn:
            [listed] = await timers.given_up(conn, "router")
        assert (listed.kind, listed.key, listed.attempts) == ("flaky", "gone", 2)
        assert listed.last_error == "downstream down"

        async with unit.transaction() as tx:
            assert await timers.retry_given_up(tx, listed.id)
            assert not await timers.retry_given_up(tx, listed.id), "armed already"
            assert (await timers.pending(tx, "flaky", "gone")) is not None
        async with unit.read() as conn:
            assert await timers.given_up(conn, "router") == []


async def test_a_handler_may_reschedule_its_own_timer(tmp_path: Path) -> None:
    """A repeating timer (a nurture touch every 90 days) reschedules the key that fired."""
    clock = ManualClock()
    fired_at: list[object] = []

    async def repeat(tx: Tx, timer: Timer) -> None:
        fired_at.append(tx.now())
        await timers.schedule(tx, "repeat", timer.key, tx.now() + timedelta(days=90))

    async with chassis_unit(tmp_path, clock) as unit:
        runner = TimerRunner(unit, {"repeat": repeat}, poll_interval_s=60)
        async with unit.transaction() as tx:
            await timers.schedule(tx, "repeat", "only", clock.now())
        for _ in range(3):
            assert await runner.fire_due() == 1
            clock.advance(timedelta(days=90))
        assert len(fired_at) == 3
