"""A backtest's window and where its archive is read from (services/backtests.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from services.backtests import Archive, Window
from services.problems import Problem

START = datetime(2026, 11, 1, tzinfo=UTC)


def request_to(*services: str) -> Any:
    runtime = SimpleNamespace(specs=[SimpleNamespace(name=s) for s in services])
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(runtime=runtime)))


def test_a_window_ends_after_it_starts_and_spans_at_most_400_days() -> None:
    assert Window(since=START, until=START + timedelta(days=400)).until > START
    for until, message in ((START, "must be after since"), (START + timedelta(days=401), "400")):
        with pytest.raises(ValidationError) as raised:
            Window(since=START, until=until)
        (error,) = raised.value.errors()
        assert error["loc"] == ("until",)
        assert message in error["msg"]
    with pytest.raises(ValidationError):
        Window.model_validate({"since": "2026-11-01T00:00:00", "until": "2026-11-02T00:00:00Z"})


def test_the_archive_is_read_at_audit_url_else_in_process_else_it_is_a_503() -> None:
    assert Archive.for_request("http://audit:8000/", request_to("router")).base_url == (
        "http://audit:8000"
    )
    embedded = Archive.for_request(None, request_to("router", "audit"))
    assert embedded.transport is not None  # the app itself, in process
    with pytest.raises(Problem) as refused:
        Archive.for_request(None, request_to("router"))
    assert refused.value.status == 503
    assert "LEADFARM_AUDIT_URL" in refused.value.detail
