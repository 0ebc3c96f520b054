"""A background task (consumer, outbox relay, timer runner, worker) that dies is restarted,
and while it is down `/readyz` says so: a crash is never only a log line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from router.webhooks import WebhookWorker
from services import runtime as runtime_module
from tests.backends import EmbeddedBackend

TASK = "worker-router-0"  # the router's webhook worker


@pytest.fixture
async def backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EmbeddedBackend]:
    monkeypatch.setattr(runtime_module, "RESTART_DELAY_S", 0.2, raising=False)
    monkeypatch.setattr(runtime_module, "STABLE_AFTER_S", 0.5, raising=False)
    started = await EmbeddedBackend(tmp_path).start()
    yield started
    await started.stop()


def restarts(task: str) -> float:
    value = REGISTRY.get_sample_value("leadfarm_background_task_restarts_total", {"task": task})
    return value or 0.0


async def readyz(backend: EmbeddedBackend) -> tuple[int, str]:
    response = await backend.client("router").get("/readyz")
    return response.status_code, response.text


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not await check():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_a_killed_worker_is_restarted_and_readyz_says_so_meanwhile(
    backend: EmbeddedBackend,
) -> None:
    runtime = backend.runtime
    assert (await readyz(backend))[0] == 200
    [killed] = [t for t in asyncio.all_tasks() if t.get_name() == TASK]
    before = restarts(TASK)

    killed.cancel()
    await asyncio.sleep(0.05)
    status, body = await readyz(backend)
    assert status == 503
    assert f"{TASK} (cancelled)" in body
    assert restarts(TASK) == before + 1

    async def running_again() -> bool:
        return any(
            t.get_name() == TASK and t is not killed and not t.done() for t in asyncio.all_tasks()
        )

    await until(running_again)

    async def ready() -> bool:
        return (await readyz(backend))[0] == 200

    await until(ready)
    assert runtime.down() == {}


async def test_a_worker_that_keeps_failing_keeps_the_process_unready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "RESTART_DELAY_S", 0.05, raising=False)
    monkeypatch.setattr(runtime_module, "STABLE_AFTER_S", 0.5, raising=False)
    runs = 0

    async def broken(self: WebhookWorker) -> None:
        nonlocal runs
        runs += 1
        raise RuntimeError("worker bug")

    monkeypatch.setattr(WebhookWorker, "run", broken)
    backend = await EmbeddedBackend(tmp_path).start()
    try:

        async def failed_thrice() -> bool:
            return runs >= 3

        await until(failed_thrice)
        status, body = await readyz(backend)
        assert status == 503
        assert "RuntimeError('worker bug')" in body
    finally:
        await backend.stop()
    assert backend.runtime.stopped_cleanly
