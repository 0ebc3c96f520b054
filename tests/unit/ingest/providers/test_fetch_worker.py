"""The fetch worker against a provider API that misbehaves: every fetch ends in a recorded
outcome (fetched, rejected, retried, failed), within its deadline, whatever the API does
and whatever goes wrong in Leadfarm's own code."""

from __future__ import annotations

import asyncio
import time

import pytest

from ingest.providers.meta import PROVIDER
from tests.fakes.receivers import misbehaving_receiver
from tests.scenarios.ingest import IngestHarness
from tests.unit.ingest.providers.test_meta import ANNA, SECRETS, change, delivery, signed


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before `ingest` starts Leadfarm."""
    monkeypatch.setenv("LEADFARM_INGEST_FETCH_TIMEOUT_S", "1")


async def test_an_api_that_drips_or_floods_its_answer_is_cut_off(
    short_deadline: None, ingest: IngestHarness
) -> None:
    async with misbehaving_receiver() as api:
        await ingest.put_source("slow", "meta", SECRETS, api_base_url=api.url("/drip/v21.0"))
        await ingest.put_source("flood", "meta", SECRETS, api_base_url=api.url("/huge/v21.0"))
        for source in ("slow", "flood"):
            posted = await ingest.post(source, *signed(delivery(change(ANNA["id"]))))
            assert posted.status_code == 200, posted.text
        started = time.monotonic()
        assert await asyncio.wait_for(ingest.fetch_now(), timeout=10) == 2
        assert time.monotonic() - started < 5
    found = {d["source"]: d for d in await ingest.deliveries("pending")}
    assert found["slow"]["attempts"] == 1
    assert "did not answer in time (DeadlineExceeded)" in found["slow"]["last_error"]
    assert found["flood"]["attempts"] == 1
    assert "larger than 1048576 bytes" in found["flood"]["last_error"]


@pytest.fixture
def two_fetch_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFARM_INGEST_FETCH_MAX_ATTEMPTS", "2")


async def test_an_unexpected_error_is_counted_and_ends_failed_with_its_reason(
    two_fetch_attempts: None, monkeypatch: pytest.MonkeyPatch, ingest: IngestHarness
) -> None:
    """Not a FetchFailed, not an httpx error: a bug. Before, it failed the whole round and
    left the delivery pending with no attempt counted and no error, leased again for ever."""

    async def broken(*_: object) -> None:
        raise KeyError("field_data")

    monkeypatch.setattr(PROVIDER, "fetch", broken)
    await ingest.put_source("fb", "meta", SECRETS, api_base_url="http://graph.example/v21.0")
    assert (await ingest.post("fb", *signed(delivery(change(ANNA["id"]))))).status_code == 200
    assert await ingest.fetch_now() == 1
    [pending] = await ingest.deliveries("pending")
    assert (pending["attempts"], pending["last_error"]) == (1, "KeyError: 'field_data'")

    async with ingest.backend.runtime.units["ingest"].transaction() as tx:
        await tx.conn.exec_driver_sql("UPDATE ingest_deliveries SET next_attempt_at = received_at")
    assert await ingest.fetch_now() == 1
    [failed] = await ingest.deliveries("failed")
    assert failed["attempts"] == 2
    assert failed["reason"] == "the provider's API failed 2 times; retry it when fixed"
    assert failed["last_error"] == "KeyError: 'field_data'"
