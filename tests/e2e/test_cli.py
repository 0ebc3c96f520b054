"""The operator commands: migrate (SQLite and PostgreSQL), topics, contracts, bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import infra
from tests.e2e.processes import LEADFARM
from tests.infra import ScratchDatabase


def leadfarm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LEADFARM, *args], capture_output=True, text=True, timeout=120, env=env)


def test_migrate_embedded_is_repeatable(tmp_path: Path) -> None:
    for _ in range(2):
        result = leadfarm("migrate", "--embedded", "--data-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
        assert "migrated: ingest, qualifier, router, nurture, audit" in result.stdout
    assert (tmp_path / "leadfarm.db").exists()


def test_contracts_check_passes_on_the_committed_contracts() -> None:
    result = leadfarm("contracts", "check")
    assert result.returncode == 0, result.stdout
    assert "up to date" in result.stdout


def test_bad_settings_and_arguments_are_refused_with_a_message() -> None:
    import os

    env = {**os.environ, "LEADFARM_TOPIC_NAMESPACE": "has spaces"}
    result = leadfarm("contracts", "check", env=env)
    assert result.returncode == 2
    assert "bad configuration" in result.stderr
    assert "topic_namespace" in result.stderr
    result = leadfarm("serve", "billing")
    assert result.returncode == 2
    assert "invalid choice: 'billing'" in result.stderr
    env = {**os.environ, "LEADFARM_DATABASE_URL": ""}
    result = leadfarm("serve", "router", env=env)
    assert result.returncode == 2
    assert "LEADFARM_DATABASE_URL must be a PostgreSQL URL" in result.stderr


@pytest.mark.integration
def test_migrate_and_topics_on_the_real_servers(pg_database: ScratchDatabase, kafka: str) -> None:
    import os

    namespace = infra.topic_namespace("cli")
    env = {
        **os.environ,
        "LEADFARM_DATABASE_URL": pg_database.url,
        "LEADFARM_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "LEADFARM_TOPIC_NAMESPACE": namespace,
    }
    result = leadfarm("migrate", "--service", "router", env=env)
    assert result.returncode == 0, result.stderr
    created = leadfarm("topics", "create", "--partitions", "1", env=env)
    assert created.returncode == 0, created.stderr
    assert f"{namespace}.router.dlq" in created.stdout
    again = leadfarm("topics", "create", env=env)
    assert "nothing (all exist)" in again.stdout
    listed = leadfarm("topics", "list", env=env)
    assert f"{namespace}.audit" in listed.stdout.split()
