"""The provider adapters' fixture: ingest on an embedded Leadfarm (tests/scenarios/ingest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ingest.fetcher import FetchWorker
from tests.backends import EmbeddedBackend
from tests.scenarios.ingest import IngestHarness


@pytest.fixture
async def ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[IngestHarness]:
    """An embedded Leadfarm whose fetch worker runs only when the test calls fetch_now()."""
    monkeypatch.setenv("LEADFARM_INGEST_FETCH_POLL_INTERVAL_S", "3600")
    # A commit that stores a delivery to fetch wakes the worker's background loop: not
    # here, so that fetches happen when the test says.
    monkeypatch.setattr(FetchWorker, "wake", lambda _: None)
    backend = await EmbeddedBackend(tmp_path).start()
    await asyncio.sleep(0)  # let the background worker run its first (empty) round
    yield IngestHarness(backend)
    await backend.stop()
