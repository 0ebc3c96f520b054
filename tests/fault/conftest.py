"""A Kafka broker and a PostgreSQL server of the fault suite's own.

The fault suite restarts both, so it must never touch the shared ones on 9092/5432 that the
rest of the suite (and other people's tests) use. It starts a disposable pair with the
project's own scripts, on free ports, with its state under `LEADFARM_LOCAL_DIR`
(`/tmp/leadfarm-fault` unless `LEADFARM_FAULT_DIR` says otherwise), and stops it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.processes import free_port
from tests.infra import run_async, unavailable

DEPLOY = Path(__file__).parents[2] / "deploy" / "local"
# A fixed, disposable place (the scripts' own default is /tmp/leadfarm-local).
STATE_DIR = Path(os.environ.get("LEADFARM_FAULT_DIR", "/tmp/leadfarm-fault"))  # noqa: S108


@dataclass
class FaultInfra:
    """The suite's own broker and database server, and how to restart each."""

    kafka: str  # bootstrap servers
    postgres_port: int
    kafka_env: dict[str, str]
    pg_env: dict[str, str]
    database: str = ""

    @property
    def admin_url(self) -> str:
        return f"postgresql://leadfarm:leadfarm@127.0.0.1:{self.postgres_port}/leadfarm"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the suite's scratch database."""
        return (
            f"postgresql+asyncpg://leadfarm:leadfarm@127.0.0.1:{self.postgres_port}/{self.database}"
        )

    @property
    def dsn(self) -> str:
        """The same database for asyncpg."""
        return f"postgresql://leadfarm:leadfarm@127.0.0.1:{self.postgres_port}/{self.database}"

    def kafka_sh(self, action: str, *, fresh: bool = False) -> None:
        env = {**self.kafka_env, "LEADFARM_KAFKA_FRESH": "1" if fresh else "0"}
        _script("kafka.sh", action, env)

    def postgres_sh(self, action: str) -> None:
        _script("postgres.sh", action, self.pg_env)


def _script(name: str, action: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", str(DEPLOY / name), action],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LEADFARM_")}, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{name} {action} failed:\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="session")
def fault_infra() -> Iterator[FaultInfra]:
    if shutil.which("java") is None or not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        unavailable("java or the PostgreSQL server binaries (for the fault suite's own servers)")
    common = {"LEADFARM_LOCAL_DIR": str(STATE_DIR)}
    kafka_port, controller_port, pg_port = free_port(), free_port(), free_port()
    infra = FaultInfra(
        kafka=f"127.0.0.1:{kafka_port}",
        postgres_port=pg_port,
        kafka_env={
            **common,
            "LEADFARM_KAFKA_PORT": str(kafka_port),
            "LEADFARM_KAFKA_CONTROLLER_PORT": str(controller_port),
        },
        pg_env={**common, "LEADFARM_PG_PORT": str(pg_port)},
    )
    # Leftovers of an interrupted run (the scripts only ever touch what is under STATE_DIR).
    _stop(infra)
    # A fresh cluster each session (initdb takes about a second): no old databases pile up.
    shutil.rmtree(STATE_DIR / "postgres", ignore_errors=True)
    try:
        infra.postgres_sh("start")
        infra.kafka_sh("start", fresh=True)
        infra.database = f"leadfarm_fault_{uuid.uuid4().hex[:8]}"
        run_async(_create_database(infra.admin_url, infra.database))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        _stop(infra)
        unavailable(f"the fault suite's own Kafka and PostgreSQL ({exc})")
    yield infra
    _stop(infra)


def _stop(infra: FaultInfra) -> None:
    # Best effort: a later run's fixture stops leftovers first.
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        infra.kafka_sh("stop")
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        infra.postgres_sh("stop")


async def _create_database(admin_url: str, name: str) -> None:
    import asyncpg

    for _ in range(50):
        try:
            conn = await asyncpg.connect(admin_url)
            break
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.2)
    else:
        conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
