"""`leadfarm`: run, migrate and operate Leadfarm.

leadfarm up [--data-dir DIR] [--host H] [--port P]   all five services, embedded
leadfarm serve <service> [--host H] [--port P]       one service on Kafka + PostgreSQL
leadfarm migrate [--service NAME]                    bring the database schema up to date
leadfarm topics create [--partitions N]              create the Kafka topics
leadfarm contracts generate|check                    JSON Schemas and AsyncAPI
leadfarm dlq list|show|replay                         dead letters (docs/operations.md)
leadfarm lag                                          consumer lag per group and partition
leadfarm replay --service S --since T                 rebuild a service's read models
leadfarm bench [--runtime embedded|cluster|both]     the benchmark (docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import uvicorn

from contracts.topics import SERVICES, ServiceName, all_topics
from services import tracing
from services.logs import configure_logging
from services.ops import commands as ops_commands
from services.ops.shutdown import serve_http
from services.settings import Settings

if TYPE_CHECKING:
    from services.runtime import Runtime

DATA_DIR_IN_USE = 3
"""`leadfarm up`'s exit status when another process holds the data directory."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="leadfarm", description="Open, event-driven lead routing."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run all five services in one process (embedded runtime)")
    up.add_argument("--data-dir", type=Path, help="where the SQLite file lives (./leadfarm-data)")
    up.add_argument("--host", help="HTTP host (127.0.0.1)")
    up.add_argument("--port", type=int, help="HTTP port (8000)")

    serve = sub.add_parser("serve", help="run one service against Kafka and PostgreSQL")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--service", choices=SERVICES, help="one service (default: all)")
    migrate.add_argument("--embedded", action="store_true", help="migrate the embedded SQLite file")
    migrate.add_argument("--data-dir", type=Path)

    topics = sub.add_parser("topics", help="Kafka topics")
    topics.add_argument("action", choices=["create", "list"])
    topics.add_argument("--partitions", type=int)

    contracts = sub.add_parser("contracts", help="event contracts")
    contracts.add_argument("action", choices=["generate", "check"])

    ops_commands.add_parsers(sub)

    from bench import cli as bench_cli

    bench_cli.add_arguments(
        sub.add_parser("bench", help="benchmark both runtimes (docs/benchmarks.md)")
    )

    args = parser.parse_args(argv)
    if args.command == "bench":
        return bench_cli.run(args)
    overrides: dict[str, object] = {}
    for name in ("data_dir", "host", "port"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[{"host": "http_host", "port": "http_port"}.get(name, name)] = value
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        print(f"leadfarm: bad configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)

    if args.command == "up":
        return _up(settings)
    if args.command == "serve":
        return _serve(settings, cast(ServiceName, args.service))
    if args.command == "migrate":
        return asyncio.run(_migrate(settings, args.service, args.embedded))
    if args.command == "topics":
        return asyncio.run(_topics(settings, args.action, args.partitions))
    if args.command in ops_commands.COMMANDS:
        return ops_commands.run(args, settings)
    return _contracts(args.action)


def _up(settings: Settings) -> int:
    from services.app import create_app
    from services.runtime import DataDirInUse, embedded_runtime

    if not _tracing_configured(tracing.PROCESS_NAME):
        return 2
    runtime = embedded_runtime(settings)
    try:
        runtime.hold_data_dir()  # held until the process ends
    except DataDirInUse as exc:
        print(f"leadfarm: {exc}", file=sys.stderr)
        return DATA_DIR_IN_USE

    async def announce() -> None:
        token = await runtime.ensure_admin_key()
        base = f"http://{settings.http_host}:{settings.http_port}"
        print(f"Leadfarm is up at {base} (embedded, data in {settings.data_dir})", flush=True)
        if token:
            print(
                "An admin API key was created. It is shown this once; keep it safe:\n"
                f"  {token}\n"
                f"  export LEADFARM_KEY={token}",
                flush=True,
            )

    return _run_http(create_app(runtime, on_started=announce), runtime, settings)


def _serve(settings: Settings, service: ServiceName) -> int:
    from services.app import create_app
    from services.runtime import cluster_runtime

    if not _tracing_configured(service):
        return 2
    try:
        runtime = cluster_runtime(settings, service)
    except ValueError as exc:
        print(f"leadfarm: {exc}", file=sys.stderr)
        return 2
    return _run_http(create_app(runtime), runtime, settings)


def _tracing_configured(service_name: str) -> bool:
    """Set tracing up as the OTEL_* variables say; False (and why) when they are wrong."""
    try:
        tracing.configure(service_name)
    except ValueError as exc:
        print(f"leadfarm: bad configuration: {exc}", file=sys.stderr)
        return False
    return True


def _run_http(app: object, runtime: Runtime, settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT; 0 after a clean shutdown (services/ops/shutdown.py)."""
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    )
    return serve_http(runtime, config)


async def _migrate(settings: Settings, service: str | None, embedded: bool) -> int:
    from services.db import Database
    from services.migrate import upgrade
    from services.runtime import builder_of

    names = [cast(ServiceName, service)] if service else list(SERVICES)
    paths = {}
    for name in names:
        module_dir = Path(sys.modules[builder_of(name).__module__].__file__ or "").parent
        paths[name] = module_dir / "migrations"
    if embedded or not settings.database_url:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        databases = [Database(settings.sqlite_url())]
        targets = [paths]
    else:
        databases = [Database(settings.cluster_database_url(), service=n) for n in names]
        targets = [{n: paths[n]} for n in names]
    for database, target in zip(databases, targets, strict=True):
        await upgrade(database, target)
        await database.dispose()
    print(f"migrated: {', '.join(names)}")
    return 0


async def _topics(settings: Settings, action: str, partitions: int | None) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    from services.bus.kafka import create_topics

    if action == "create":
        created = await create_topics(
            settings.kafka_bootstrap_servers,
            all_topics(settings.topic_namespace),
            partitions or settings.topic_partitions,
            settings.topic_replication_factor,
        )
        print("created: " + (", ".join(created) if created else "nothing (all exist)"))
        return 0
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        for topic in sorted(await admin.list_topics()):
            print(topic)
    finally:
        await admin.close()
    return 0


def _contracts(action: str) -> int:
    from contracts.schemagen import stale_files, write_all

    if action == "generate":
        written = write_all()
        print("\n".join(str(p) for p in written) or "contracts are up to date")
        return 0
    stale = stale_files()
    if stale:
        print("stale (run `leadfarm contracts generate`):\n  " + "\n  ".join(map(str, stale)))
        return 1
    print("contracts are up to date")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
