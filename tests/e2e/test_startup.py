"""Start-up as a person meets it: a taken port stops `leadfarm up` and `leadfarm serve`
before anything is announced or created, with the port named and how to pick another."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import LEADFARM

pytestmark = pytest.mark.e2e

PORT_UNAVAILABLE = 4


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        yield int(holder.getsockname()[1])


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADFARM_")}
    return subprocess.run(
        [LEADFARM, *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_up_on_a_taken_port_says_so_and_announces_nothing(taken_port: int, tmp_path: Path) -> None:
    result = run(["up", "--data-dir", str(tmp_path), "--port", str(taken_port)])
    assert result.returncode == PORT_UNAVAILABLE, result.stdout + result.stderr
    assert f"port {taken_port} is taken" in result.stderr
    assert "leadfarm up --port" in result.stderr
    assert "LEADFARM_HTTP_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Errno" not in result.stderr
    assert "is up" not in result.stdout
    assert "lf_" not in result.stdout, "no admin key is made for a process that cannot serve"


def test_serve_on_a_taken_port_says_so(taken_port: int) -> None:
    env = {
        # Never reached: the port is bound before the runtime starts.
        "LEADFARM_DATABASE_URL": "postgresql+asyncpg://leadfarm:leadfarm@127.0.0.1:9/none",
    }
    result = run(["serve", "router", "--port", str(taken_port)], env)
    assert result.returncode == PORT_UNAVAILABLE, result.stdout + result.stderr
    assert f"port {taken_port} is taken" in result.stderr
    assert "leadfarm serve router --port" in result.stderr
    assert "Traceback" not in result.stderr
