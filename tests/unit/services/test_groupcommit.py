"""Group commit (services/groupcommit.py): concurrent works share a transaction, each is
answered after the commit, a failing work never takes the others with it, a transient error
reaches every request of the round, and a request that goes away never cancels a round."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from services.clock import ManualClock
from services.db import Tx, UnitOfWork
from services.groupcommit import GroupCommitter, transaction_only
from services.problems import Problem
from services.reference import bump
from services.tables import reference_versions
from tests.scenarios.services import chassis_unit


async def written(unit: UnitOfWork) -> set[str]:
    async with unit.read() as conn:
        return set((await conn.execute(select(reference_versions.c.name))).scalars())


async def test_concurrent_works_share_one_transaction_and_are_answered_after_it(
    tmp_path: Path,
) -> None:
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        transactions: list[int] = []

        async def prepare(tx: Tx, keys: Sequence[str]) -> tuple[Tx, list[str]]:
            transactions.append(len(keys))
            return tx, list(keys)

        committer = GroupCommitter(unit, prepare)

        async def request(name: str) -> str:
            async def work(state: tuple[Tx, list[str]]) -> str:
                tx, keys = state
                assert name in keys  # the round's state was prepared for every work of it
                await bump(tx, name)
                return name

            answer = await committer.run(work, name)
            assert name in await written(unit)  # answered only once readable
            return answer

        names = [f"w{i}" for i in range(10)]
        assert await asyncio.gather(*(request(n) for n in names)) == names
        assert transactions == [10]  # one round, prepared once with the keys of all ten

        # Under no load a request is a round of its own, started at once.
        assert await request("alone") == "alone"
        assert transactions == [10, 1]


async def test_a_round_takes_at_most_max_works(tmp_path: Path) -> None:
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        rounds: list[int] = []

        async def prepare(tx: Tx, keys: Sequence[object]) -> Tx:
            rounds.append(1)
            return tx

        committer = GroupCommitter(unit, prepare, max_works=2)

        async def work_of(name: str) -> str:
            async def work(tx: Tx) -> str:
                await bump(tx, name)
                return name

            return await committer.run(work, None)

        await asyncio.gather(*(work_of(f"m{i}") for i in range(5)))
        assert len(rounds) == 3
        assert await written(unit) == {f"m{i}" for i in range(5)}


async def test_a_lingering_committer_takes_works_that_arrive_within_its_linger(
    tmp_path: Path,
) -> None:
    """Outcomes of webhooks already sent finish one by one; a committer that lingers
    records those finishing close together in one transaction."""
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        rounds: list[int] = []

        async def prepare(tx: Tx, keys: Sequence[object]) -> Tx:
            rounds.append(len(keys))
            return tx

        committer = GroupCommitter(unit, prepare, linger_s=0.2)

        async def later(name: str, delay: float) -> str:
            await asyncio.sleep(delay)

            async def work(tx: Tx) -> str:
                await bump(tx, name)
                return name

            return await committer.run(work, None)

        assert list(await asyncio.gather(later("a", 0.0), later("b", 0.05))) == ["a", "b"]
        assert rounds == [2]


async def test_a_refused_work_never_takes_the_others_with_it(tmp_path: Path) -> None:
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        committer = GroupCommitter(unit, transaction_only)

        async def request(name: str) -> str:
            async def work(tx: Tx) -> str:
                await bump(tx, name)
                if name == "bad":
                    raise Problem(422, "this one cannot be used")
                return name

            return await committer.run(work, None)

        names = ["a", "b", "bad", "c"]
        answers = await asyncio.gather(*(request(n) for n in names), return_exceptions=True)
        assert answers[:2] == ["a", "b"]
        assert answers[3] == "c"
        assert isinstance(answers[2], Problem)
        assert answers[2].status == 422
        assert await written(unit) == {"a", "b", "c"}


async def test_a_transient_error_reaches_every_request_of_the_round(tmp_path: Path) -> None:
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        committer = GroupCommitter(unit, transaction_only)

        async def request(name: str) -> str:
            async def work(tx: Tx) -> str:
                await bump(tx, name)
                if name == "down":
                    raise OperationalError("SELECT 1", {}, ConnectionError("database down"))
                return name

            return await committer.run(work, None)

        answers = await asyncio.gather(
            *(request(n) for n in ["x", "down", "y"]), return_exceptions=True
        )
        assert all(isinstance(a, OperationalError) for a in answers), answers
        assert await written(unit) == set()


async def test_a_request_that_goes_away_does_not_cancel_the_round(tmp_path: Path) -> None:
    async with chassis_unit(tmp_path, ManualClock()) as unit:
        committer = GroupCommitter(unit, transaction_only)
        in_round = asyncio.Event()
        go_on = asyncio.Event()

        async def slow(tx: Tx) -> str:
            await bump(tx, "slow")
            in_round.set()
            await go_on.wait()
            return "slow"

        async def quick(tx: Tx) -> str:
            await bump(tx, "quick")
            return "quick"

        first = asyncio.create_task(committer.run(slow, None))
        gone = asyncio.create_task(committer.run(quick, None))  # same round as `slow`
        await in_round.wait()
        gone.cancel()  # the client disconnected while the round runs
        with pytest.raises(asyncio.CancelledError):
            await gone
        go_on.set()
        assert await first == "slow"
        assert await written(unit) == {"slow", "quick"}  # the round committed both
