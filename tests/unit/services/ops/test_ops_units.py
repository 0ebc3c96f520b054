"""Unit tests of the operations helpers: time parsing, the replay allow-list, the
data-directory lock, and the CLI on an embedded data directory."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import update

from services import timers
from services.cli import main
from services.ops import replay
from services.ops.shutdown import GracefulServer
from services.runtime import DataDirInUse, _lock_data_dir, embedded_runtime
from services.settings import Settings
from services.tables import timers as timers_table

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2h", NOW - timedelta(hours=2)),
        ("30m", NOW - timedelta(minutes=30)),
        ("7d", NOW - timedelta(days=7)),
        ("2026-04-30T08:00:00", datetime(2026, 4, 30, 8, tzinfo=UTC)),
        ("2026-04-30T08:00:00+02:00", datetime(2026, 4, 30, 6, tzinfo=UTC)),
    ],
)
def test_since_takes_a_duration_or_an_iso_time(value: str, expected: datetime) -> None:
    assert replay.parse_since(value, NOW) == expected


def test_since_rejects_anything_else() -> None:
    with pytest.raises(ValueError, match="duration"):
        replay.parse_since("yesterday", NOW)


@pytest.mark.parametrize("service", ["ingest", "qualifier", "router", "nurture"])
def test_only_projections_can_be_replayed(service: str) -> None:
    with pytest.raises(replay.ReplayRefused, match="cannot be replayed"):
        replay.check_replayable(service)  # type: ignore[arg-type]
    replay.check_replayable("audit")


def test_the_data_directory_lock_tells_a_running_embedded_runtime(tmp_path: Path) -> None:
    assert not replay.embedded_in_use(tmp_path)
    held = _lock_data_dir(tmp_path)
    assert held is not None
    assert replay.embedded_in_use(tmp_path)
    held.close()
    assert not replay.embedded_in_use(tmp_path)


def test_a_second_runtime_on_a_held_data_directory_is_refused(tmp_path: Path) -> None:
    held = _lock_data_dir(tmp_path)
    try:
        with pytest.raises(DataDirInUse, match="another Leadfarm process is using"):
            embedded_runtime(Settings(data_dir=tmp_path)).hold_data_dir()
    finally:
        held.close()
    _lock_data_dir(tmp_path).close()  # free again once the holder let go


def test_sigterm_turns_unready_at_once_and_exits_after_the_drain(tmp_path: Path) -> None:
    import uvicorn

    runtime = embedded_runtime(Settings(data_dir=tmp_path))
    runtime.ready = True
    server = GracefulServer(uvicorn.Config(app="services.app:create_app"), runtime, drain_s=0.05)

    async def scenario() -> None:
        server._loop = asyncio.get_running_loop()
        server.handle_exit(signal.SIGTERM, None)
        assert runtime.ready is False
        assert server.should_exit is False
        await asyncio.sleep(0.2)
        assert server.should_exit is True
        assert server._captured_signals == []  # no re-raise: a clean exit is status 0

    asyncio.run(scenario())


def test_the_cli_reads_an_embedded_data_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def make() -> None:
        runtime = embedded_runtime(Settings(data_dir=tmp_path, log_format="text"))
        await runtime.start()
        await runtime.stop()

    asyncio.run(make())
    assert main(["dlq", "list", "--data-dir", str(tmp_path)]) == 0
    assert "audit: 0 dead letter(s), 0 pending" in capsys.readouterr().out
    assert main(["lag", "--data-dir", str(tmp_path)]) == 0
    assert "leadfarm.audit" in capsys.readouterr().out
    assert main(["dlq", "show", "audit", "42", "--data-dir", str(tmp_path)]) == 1
    assert (
        main(["replay", "--service", "router", "--since", "1h", "--data-dir", str(tmp_path)]) == 1
    )
    assert "cannot be replayed" in capsys.readouterr().err
    assert main(["dlq", "list", "--data-dir", str(tmp_path / "nothing")]) == 1


def test_the_cli_lists_given_up_timers_and_arms_them_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def make() -> None:
        runtime = embedded_runtime(Settings(data_dir=tmp_path, log_format="text"))
        await runtime.start()
        try:
            async with runtime.units["router"].transaction() as tx:
                await timers.schedule(tx, "first_touch", "lead-1", tx.now())
                await tx.conn.execute(
                    update(timers_table)
                    .where(timers_table.c.key == "lead-1")
                    .values(fired_at=tx.now(), attempts=5, last_error="rep ana@x.example gone")
                )
        finally:
            await runtime.stop()

    asyncio.run(make())
    assert main(["timers", "list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "router: 1 timer(s) given up" in out
    assert "nurture: 0 timer(s) given up" in out
    assert "first_touch  lead-1  5 attempts  rep [email] gone" in out
    assert (
        main(["timers", "list", "--service", "router", "--json", "--data-dir", str(tmp_path)]) == 0
    )
    [row] = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["service"], row["kind"], row["key"], row["attempts"]) == (
        "router",
        "first_touch",
        "lead-1",
        5,
    )
    assert main(["timers", "retry", "router", str(row["id"]), "--data-dir", str(tmp_path)]) == 0
    assert "armed, due now" in capsys.readouterr().out
    assert main(["timers", "retry", "router", str(row["id"]), "--data-dir", str(tmp_path)]) == 1
    assert main(["timers", "list", "--service", "router", "--data-dir", str(tmp_path)]) == 0
    assert "router: 0 timer(s) given up" in capsys.readouterr().out
