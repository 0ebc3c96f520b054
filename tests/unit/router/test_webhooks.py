"""Outbound webhooks: Standard Webhooks signatures, what each subscription receives, and
retries with exponential backoff for 24 hours, then dead."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from router import repository
from router.models import deliveries
from router.records import WebhookDelivery
from router.webhooks import WebhookWorker
from services.crypto import SecretBox
from tests.backends import eventually
from tests.fakes.receivers import misbehaving_receiver
from tests.scenarios.router import World, world_at
from tests.scenarios.services import statements_of

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def verify(secret: str, request: httpx.Request) -> dict[str, object]:
    """What a receiver does (written from the spec, independently of `sign`)."""
    msg_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + request.content, hashlib.sha256)
    signatures = [s.split(",", 1)[1] for s in request.headers["webhook-signature"].split()]
    assert base64.b64encode(expected.digest()).decode() in signatures
    body: dict[str, object] = json.loads(request.content)
    return body


def worker_answering(world: World, receiver: Callable[[httpx.Request], Any]) -> WebhookWorker:
    """A webhook worker whose requests `receiver` answers (httpx.MockTransport)."""
    return WebhookWorker(
        world.unit, world.settings, httpx.MockTransport(receiver), box=SecretBox.ephemeral()
    )


async def delivered_count(world: World) -> int:
    async with world.unit.read() as conn:
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(deliveries)
                .where(deliveries.c.status == "delivered")
            )
            or 0
        )


async def subscribe(world: World, **values: object) -> str:
    async with world.unit.transaction() as tx:
        now = tx.now()
        subscription_id = f"sub-{now.timestamp()}-{len(values)}-{values.get('url', '')}"
        await repository.subscriptions.insert_subscription(
            tx,
            {
                "id": subscription_id,
                "url": "http://crm.example/hooks",
                "event_types": [],
                "rep_id": None,
                "description": None,
                "secret": SECRET,
                "active": True,
                "created_at": now,
                "updated_at": now,
                **values,
            },
        )
    return subscription_id


async def queue_deliveries(world: World, leads: int) -> None:
    """One rep, one subscription to everything, and `leads` leads routed to her: as many
    deliveries waiting for the worker."""
    await world.rep("ana")
    await subscribe(world)
    for _ in range(leads):
        await world.qualify()


async def test_each_subscription_gets_the_events_it_asked_for(world: World) -> None:
    await world.rep("ana")
    await world.rep("bo")
    everything = await subscribe(world, url="http://all.example/")
    bos = await subscribe(world, url="http://bo.example/", rep_id="bo")
    breaches = await subscribe(
        world, url="http://alerts.example/", event_types=["leadfarm.sla.breached.v1"]
    )
    await subscribe(world, url="http://off.example/", active=False)
    lead_id = await world.qualify()  # to ana
    world.advance(minutes=5)
    await world.timers.fire_due()  # breached by ana, reassigned to bo

    async with world.unit.read() as conn:
        rows = (
            await conn.execute(select(deliveries.c.subscription_id, deliveries.c.event_type))
        ).all()
    got: dict[str, list[str]] = {}
    for row in rows:
        got.setdefault(row.subscription_id, []).append(row.event_type)
    assert got[everything] == [
        "leadfarm.lead.assigned.v1",
        "leadfarm.sla.breached.v1",
        "leadfarm.lead.reassigned.v1",
    ]
    assert got[bos] == ["leadfarm.lead.reassigned.v1"], "only events naming bo"
    assert got[breaches] == ["leadfarm.sla.breached.v1"]
    assert len(got) == 3, "an inactive subscription gets nothing"

    seen: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    worker = worker_answering(world, receiver)
    try:
        assert await worker.run_once() == 5
        assert await worker.run_once() == 0
    finally:
        await worker.stop()
    bodies = [verify(SECRET, r) for r in seen]
    assigned = next(b for b in bodies if b["type"] == "leadfarm.lead.assigned.v1")
    assert assigned["subject"] == lead_id
    assert assigned["timestamp"] == "2026-01-05T09:00:00Z"
    data = assigned["data"]
    assert isinstance(data, dict)
    assert data["rep_id"] == "ana"
    assert data["lead"]["source"] == "website"
    for request in seen:
        assert request.headers["webhook-timestamp"] == str(int(world.clock.now().timestamp()))
        assert request.headers["content-type"] == "application/json"
    async with world.unit.read() as conn:
        statuses = (await conn.execute(select(deliveries.c.status))).scalars().all()
    assert set(statuses) == {"delivered"}


async def test_a_failing_endpoint_is_retried_with_backoff_for_24_hours_then_dead(
    world: World,
) -> None:
    await world.rep("ana")
    subscription_id = await subscribe(world)
    await world.qualify()
    created = world.clock.now()
    attempts: list[httpx.Request] = []

    def down(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(503, text="maintenance")

    worker = worker_answering(world, down)
    gaps = []
    try:
        while True:
            assert await worker.run_once() == 1
            async with world.unit.read() as conn:
                (delivery,) = await repository.deliveries.list_deliveries(
                    conn, subscription_id, None, 10
                )
            if delivery.status == "dead":
                break
            assert delivery.next_attempt_at is not None
            assert await worker.run_once() == 0, "not due before its backoff"
            gaps.append(delivery.next_attempt_at - world.clock.now())
            world.clock.set(delivery.next_attempt_at)
    finally:
        await worker.stop()
    assert gaps[:5] == [timedelta(seconds=s) for s in (5, 10, 20, 40, 80)]
    assert max(gaps) == timedelta(hours=1), "capped"
    assert world.clock.now() - created == timedelta(hours=24), "the last try at 24 hours"
    assert delivery.attempts == len(attempts)
    assert delivery.last_status_code == 503
    assert delivery.last_error == "HTTP 503: maintenance"
    # The same message every time (its id is the receiver's idempotency key), signed afresh.
    assert len({r.headers["webhook-id"] for r in attempts}) == 1
    assert len({r.headers["webhook-timestamp"] for r in attempts}) == len(attempts)
    for request in attempts:
        verify(SECRET, request)


async def delivery_of(world: World, subscription_id: str) -> WebhookDelivery:
    async with world.unit.read() as conn:
        (delivery,) = await repository.deliveries.list_deliveries(conn, subscription_id, None, 10)
    return delivery


async def test_a_receiver_that_drips_or_floods_its_answer_is_cut_off(tmp_path: Path) -> None:
    """httpx's timeout is per read: a byte every 0.2 s would hold the worker for ever. The
    deadline covers the whole request, the body included, and the body has a cap."""
    async with (
        misbehaving_receiver() as receiver,
        world_at(tmp_path, webhook_timeout_s=1.0, allow_private_webhook_urls=True) as world,
    ):
        await world.rep("ana")
        drip = await subscribe(world, url=receiver.url("/drip"))
        huge = await subscribe(world, url=receiver.url("/huge"))
        await world.qualify()
        worker = WebhookWorker(world.unit, world.settings, box=SecretBox.ephemeral())
        started = time.monotonic()
        try:
            assert await asyncio.wait_for(worker.run_once(), timeout=10) == 2
        finally:
            await worker.stop()
        assert time.monotonic() - started < 5
        dripped = await delivery_of(world, drip)
        assert dripped.status == "pending"
        assert dripped.attempts == 1
        assert dripped.last_error == "DeadlineExceeded: no complete answer within 1 s"
        flooded = await delivery_of(world, huge)
        assert flooded.status == "pending"
        assert flooded.last_error is not None
        assert "larger than 1048576 bytes" in flooded.last_error


SHARES = {
    "webhook_timeout_s": 30.0,
    "webhook_concurrency": 4,
    "webhook_concurrency_per_subscription": 2,
    "allow_private_webhook_urls": True,
}
"""A pool of four slots, two a subscription: one subscription may fill it but two."""


async def test_a_slow_receiver_does_not_hold_up_other_subscriptions(tmp_path: Path) -> None:
    async with world_at(tmp_path, **SHARES) as world:
        await world.rep("ana")
        async with misbehaving_receiver() as receiver:
            await subscribe(world, url=receiver.url("/drip"))
            for _ in range(5):  # more deliveries to the slow receiver than there are slots
                await world.qualify()
            fast = await subscribe(world, url=receiver.url("/fast"))
            await world.qualify()  # one for each subscription, the fast one's last in line
            worker = WebhookWorker(world.unit, world.settings, box=SecretBox.ephemeral())
            running = asyncio.create_task(worker.run())
            try:

                async def delivered() -> None:
                    while (await delivery_of(world, fast)).status != "delivered":
                        await asyncio.sleep(0.05)

                await asyncio.wait_for(delivered(), timeout=5)
                assert receiver.seen.count("/drip") == 2, "the slow receiver has only its share"
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        await worker.stop()  # the receiver is gone, so the slow requests end at once


async def test_with_every_subscription_at_its_share_no_claim_reads_the_backlog(
    tmp_path: Path,
) -> None:
    """Only the share kept for a newcomer is free and no other subscription exists: a claim
    could take nothing, and would have read every due delivery to find it out."""
    async with world_at(tmp_path, **SHARES) as world:
        await world.rep("ana")
        async with misbehaving_receiver() as receiver:
            await subscribe(world, url=receiver.url("/drip"))
            for _ in range(5):
                await world.qualify()
            worker = WebhookWorker(world.unit, world.settings, box=SecretBox.ephemeral())
            assert await worker._start_due() == 2  # its share; two slots stay free
            seen = statements_of(world.unit)
            assert await worker._start_due() == 0
            assert not [s for s in seen if "ORDER BY" in s], seen  # no claim ran
            assert worker.held_back  # a slot freed by a finished delivery is worth a look
            await subscribe(world, url=receiver.url("/fast"))
            await world.qualify()
            assert await worker._start_due() == 1  # the newcomer gets the kept share
        await worker.stop()  # the receiver is gone, so the slow requests end at once


def never_sent(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing should have been sent to {request.url}")


async def test_a_url_the_http_client_refuses_ends_dead_with_its_reason(world: World) -> None:
    """A control character in the host: httpx refuses the URL before any request (an
    exception that is not an httpx.HTTPError). It must not stay pending for ever."""
    await world.rep("ana")
    subscription_id = await subscribe(world, url="http://cr\x01m.example/hooks")
    await world.qualify()
    worker = worker_answering(world, never_sent)
    try:
        assert await worker.run_once() == 1
    finally:
        await worker.stop()
    delivery = await delivery_of(world, subscription_id)
    assert delivery.status == "dead"
    assert delivery.attempts == 1
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("the subscription's URL cannot be used: InvalidURL")


async def test_an_unexpected_error_is_recorded_and_retried_until_dead(world: World) -> None:
    await world.rep("ana")
    subscription_id = await subscribe(world, secret="whsec_not base64!")
    await world.qualify()
    worker = worker_answering(world, never_sent)
    try:
        assert await worker.run_once() == 1
        delivery = await delivery_of(world, subscription_id)
        assert delivery.status == "pending"
        assert delivery.attempts == 1
        assert delivery.last_error is not None
        assert delivery.last_error.startswith("Error: ")  # binascii.Error, from the secret
        world.clock.set(delivery.expires_at)
        assert await worker.run_once() == 1
    finally:
        await worker.stop()
    delivery = await delivery_of(world, subscription_id)
    assert delivery.status == "dead"
    assert delivery.attempts == 2


async def test_a_host_that_takes_for_ever_to_resolve_is_cut_off_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The private-address check resolves the host before the request, outside the HTTP
    client's deadline; a resolver that hangs must not hold the worker either."""

    async def hanging(url: str) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr("router.webhooks.check_public", hanging)
    async with world_at(tmp_path, webhook_timeout_s=0.5, allow_private_webhook_urls=False) as world:
        await world.rep("ana")
        subscription_id = await subscribe(world)
        await world.qualify()
        worker = worker_answering(world, never_sent)
        try:
            assert await asyncio.wait_for(worker.run_once(), timeout=5) == 1
        finally:
            await worker.stop()
        delivery = await delivery_of(world, subscription_id)
        assert delivery.attempts == 1
        assert delivery.last_error == "DeadlineExceeded: resolving the host took longer than 0.5 s"


async def test_one_subscriptions_burst_flows_at_the_pools_pace(tmp_path: Path) -> None:
    """A lone subscription may use the whole pool but one share, and a finished delivery
    starts the next at once: a burst does not wait for the poll interval between waves of
    its two-slot share (it did: 24 deliveries took 12 poll intervals)."""
    async with world_at(
        tmp_path,
        webhook_concurrency=8,
        webhook_concurrency_per_subscription=2,
        webhook_poll_interval_s=5.0,
    ) as world:
        await queue_deliveries(world, 24)
        running = 0
        peak = 0

        async def slow(request: httpx.Request) -> httpx.Response:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.1)
            running -= 1
            return httpx.Response(204)

        worker = worker_answering(world, slow)
        started = time.monotonic()
        task = asyncio.create_task(worker.run())
        try:

            async def all_delivered() -> bool:
                return await delivered_count(world) == 24

            await eventually(all_delivered, timeout=20)
        finally:
            await worker.stop()
            await task
        assert await world.count(deliveries) == 24
        assert time.monotonic() - started < 3.0
        assert peak == 6, "the pool but one share (2 of 8 slots kept free for others)"


async def test_by_default_a_lone_subscription_has_a_hundred_and_more_deliveries_in_flight(
    tmp_path: Path,
) -> None:
    """The default pool is sized for a spike to a receiver that answers slowly: 300
    leads/s to a tool answering in 300 ms is 90 requests in flight."""
    async with world_at(tmp_path, allow_private_webhook_urls=True) as world:
        settings = world.settings
        lone = settings.webhook_concurrency - settings.webhook_concurrency_per_subscription
        await world.rep("ana")
        await subscribe(world)
        batch: list[tuple[str, dict[str, Any]]] = [
            (f"lead-{i}", {}) for i in range(max(lone, 100) + 10)
        ]
        await world.qualify_together(*batch)
        running = 0
        gate = asyncio.Event()

        async def held(request: httpx.Request) -> httpx.Response:
            nonlocal running
            running += 1
            await gate.wait()
            return httpx.Response(204)

        worker = worker_answering(world, held)
        task = asyncio.create_task(worker.run())
        try:

            async def a_hundred() -> bool:
                return running >= 100

            await eventually(a_hundred, timeout=10)
            await asyncio.sleep(0.2)
            assert running == lone, "the pool but one share, and no more"
        finally:
            gate.set()
            await worker.stop()
            await task


async def test_a_slot_goes_to_the_next_delivery_once_the_receiver_answered(tmp_path: Path) -> None:
    """The pool bounds the requests a receiver gets at once, not the outcomes being
    stored: with one slot, three deliveries reach the receiver while none of their outcomes
    could be stored yet (held here; on a busy process, the database's queue)."""
    async with world_at(
        tmp_path,
        webhook_concurrency=2,
        webhook_concurrency_per_subscription=1,
        webhook_poll_interval_s=5.0,
    ) as world:
        await queue_deliveries(world, 3)
        running = 0
        peak = 0
        answered = 0

        async def answer(request: httpx.Request) -> httpx.Response:
            nonlocal running, peak, answered
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1
            answered += 1
            return httpx.Response(204)

        worker = worker_answering(world, answer)
        storing = asyncio.Event()
        record = worker._record

        async def held_record(*args: Any, **kwargs: Any) -> None:
            await storing.wait()
            await record(*args, **kwargs)

        worker._record = held_record  # type: ignore[method-assign]
        task = asyncio.create_task(worker.run())
        try:

            async def all_answered() -> bool:
                return answered == 3

            await eventually(all_answered, timeout=10)
            assert peak == 1, "one request at a time: the pool but one share"
            assert await delivered_count(world) == 0
            storing.set()

            async def all_delivered() -> bool:
                return await delivered_count(world) == 3

            await eventually(all_delivered, timeout=10)
        finally:
            storing.set()
            await worker.stop()
            await task


async def test_attempts_that_finish_together_are_recorded_with_one_statement(
    tmp_path: Path,
) -> None:
    """The outcomes of a wave of deliveries share a group-commit round and are written by
    one UPDATE (an executemany), not one per delivery; each keeps its own outcome."""
    async with world_at(
        tmp_path, webhook_concurrency=16, webhook_concurrency_per_subscription=8
    ) as world:
        await _one_statement_per_wave(world)


async def _one_statement_per_wave(world: World) -> None:
    await world.rep("ana")
    await subscribe(world, url="http://ok.example/")
    await subscribe(world, url="http://down.example/")
    for _ in range(4):
        await world.qualify()

    def receiver(request: httpx.Request) -> httpx.Response:
        return httpx.Response(204 if request.url.host == "ok.example" else 503)

    updates: list[str] = []

    def on_statement(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("UPDATE router_webhook_deliveries SET status"):
            updates.append(statement)

    engine = world.unit.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_statement)
    worker = worker_answering(world, receiver)
    try:
        assert await worker.run_once() == 8
    finally:
        await worker.stop()
        event.remove(engine, "before_cursor_execute", on_statement)
    assert 1 <= len(updates) <= 2, updates  # the first to finish may take a round alone
    async with world.unit.read() as conn:
        rows = (
            await conn.execute(
                select(
                    deliveries.c.status,
                    deliveries.c.attempts,
                    deliveries.c.last_status_code,
                    deliveries.c.delivered_at.is_not(None).label("delivered"),
                    deliveries.c.next_attempt_at.is_not(None).label("again"),
                )
            )
        ).all()
    assert sorted(tuple(r) for r in rows) == sorted(
        [("delivered", 1, 204, True, False)] * 4 + [("pending", 1, 503, False, True)] * 4
    )
