"""Under CI=true an integration test whose broker or database is missing fails; elsewhere it
skips with a message saying how to provide one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
TARGET = "tests/integration/test_flow.py::test_two_leads_cross_all_five_services[cluster]"


def run_without_servers(ci: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {
        "CI": ci,
        "LEADFARM_TEST_KAFKA": "127.0.0.1:9",  # nothing listens on the discard port
        "LEADFARM_TEST_POSTGRES": "postgresql://nobody@127.0.0.1:9/none",
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", TARGET, "-p", "no:cacheprovider", "-q"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_missing_servers_fail_under_ci_and_skip_elsewhere(ci: str, outcome: str) -> None:
    result = run_without_servers(ci)
    assert outcome in result.stdout, result.stdout[-3000:]
    if ci:
        assert result.returncode != 0
        assert "CI=true: integration tests must not skip" in result.stdout
