"""`leadfarm`: run, migrate and operate Leadfarm.

leadfarm up [--data-dir DIR] [--host H] [--port P]   all five services, embedded
leadfarm serve <service> [--host H] [--port P]       one service on Kafka + PostgreSQL
leadfarm migrate [--service NAME]                    bring the database schema up to date
leadfarm topics create [--partitions N]              create the Kafka topics
leadfarm contracts generate|check                    JSON Schemas and AsyncAPI
leadfarm dlq list|show|replay                         dead letters (docs/operations.md)
leadfarm lag                                          consumer lag per group and partition
leadfarm replay --service S --since T                 rebuild a service's read models
leadfarm timers list|retry                            durable timers given up
leadfarm leads list|show|timeline                     leads (over the HTTP API, with a key)
leadfarm reps list|show|suspend|reinstate             reps
leadfarm rules|pools list|show|history|rollback       routing rules and pools, their versions
leadfarm forecast removals|approve|deny               the forecast's removal requests
leadfarm bench [--runtime embedded|cluster|both]     the benchmark (docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, cast

import uvicorn

from contracts.topics import SERVICES, ServiceName, all_topics
from services import gcpolicy, tracing
from services.logs import configure_logging
from services.ops import commands as ops_commands
from services.ops import objects
from services.ops.shutdown import serve_http
from services.settings import Settings

if TYPE_CHECKING:
    from services.runtime import Runtime

DATA_DIR_IN_USE = 3
"""`leadfarm up`'s exit status when another process holds the data directory."""
PORT_UNAVAILABLE = 4
"""`leadfarm up` and `leadfarm serve`'s exit status when the HTTP port cannot be bound."""


def build_parser() -> argparse.ArgumentParser:
    """Every command, subcommand and option, each with its help."""
    parser = argparse.ArgumentParser(
        prog="leadfarm",
        description="Open, event-driven lead routing: run, operate and inspect Leadfarm.",
        epilog="`leadfarm <command> --help` tells more. The runbook: docs/operations.md.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    up = sub.add_parser("up", help="run all five services in one process (embedded runtime)")
    up.add_argument("--data-dir", type=Path, help="where the SQLite file lives (./leadfarm-data)")
    up.add_argument("--host", help="HTTP host (127.0.0.1; LEADFARM_HTTP_HOST)")
    up.add_argument("--port", type=int, help="HTTP port (8000; LEADFARM_HTTP_PORT)")

    serve = sub.add_parser("serve", help="run one service against Kafka and PostgreSQL")
    serve.add_argument("service", choices=SERVICES, help="the service to run")
    serve.add_argument("--host", help="HTTP host (127.0.0.1; LEADFARM_HTTP_HOST)")
    serve.add_argument("--port", type=int, help="HTTP port (8000; LEADFARM_HTTP_PORT)")

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--service", choices=SERVICES, help="one service (default: all)")
    migrate.add_argument("--embedded", action="store_true", help="migrate the embedded SQLite file")
    migrate.add_argument(
        "--data-dir", type=Path, help="the embedded data directory (./leadfarm-data)"
    )

    topics = sub.add_parser("topics", help="Kafka topics: create the missing ones, or list")
    topics.add_argument("action", choices=["create", "list"], help="create or list")
    topics.add_argument(
        "--partitions", type=int, help="partitions of created topics (LEADFARM_TOPIC_PARTITIONS)"
    )

    contracts = sub.add_parser("contracts", help="event contracts: JSON Schemas and AsyncAPI")
    contracts.add_argument(
        "action",
        choices=["generate", "check"],
        help="generate: write contracts/; check: fail when they are stale",
    )

    ops_commands.add_parsers(sub)
    objects.add_parsers(sub)

    from bench import cli as bench_cli

    bench_cli.add_arguments(
        sub.add_parser(
            "bench",
            help="benchmark both runtimes (docs/benchmarks.md; needs the `bench` extra)",
        )
    )
    return parser


def _version() -> str:
    try:
        return metadata.version("leadfarm")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "bench":
        from bench import cli as bench_cli

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
    if args.command in objects.COMMANDS:
        return objects.run(args, settings)
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
    listener = _listen(settings, "leadfarm up")
    if listener is None:
        return PORT_UNAVAILABLE

    async def announce() -> None:
        # Runs once the runtime started, on a port already bound: nothing is announced
        # (and no key made) for a process that cannot serve.
        token = await runtime.ensure_admin_key()
        print(banner(settings, token), flush=True)
        gcpolicy.settle()

    app = create_app(runtime, on_started=announce)
    return _run_http(app, runtime, settings, listener)


def banner(settings: Settings, new_admin_key: str | None) -> str:
    """What `leadfarm up` prints once it serves: where to go, and how to get in."""
    base = settings.http_url()
    lines = [
        f"Leadfarm is up at {base} (embedded, data in {settings.data_dir}); Ctrl-C stops it.",
        f"  dashboard: {base}/audit/v1/dashboard (sign in with an admin or manager key)",
        f"  console:   {base}/console (reps, rules, definitions, tracks; the same keys)",
        f"  API docs:  {base}/docs",
    ]
    if new_admin_key:
        lines += [
            "An admin API key was created. It is shown this once; keep it safe:",
            f"  {new_admin_key}",
            f"  export LEADFARM_KEY={new_admin_key}",
        ]
    elif settings.admin_key is not None:
        lines.append("Sign in with the admin key in LEADFARM_ADMIN_KEY.")
    else:
        lines.append(
            "Sign in with the admin key printed at first start. Lost it? Restart with "
            "LEADFARM_ADMIN_KEY set to a key of your own (24+ random characters)."
        )
    return "\n".join(lines)


def _listen(settings: Settings, command: str) -> socket.socket | None:
    """Bind the HTTP port before anything starts; None (and a message) when it cannot be."""
    host, port = settings.http_host, settings.http_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family)
    except OSError as exc:
        where = f"{host}:{port}"
        other = f"{command} --port 8080, or LEADFARM_HTTP_PORT=8080"
        if command == "leadfarm up":
            other += " (LEADFARM_HTTP_PORT=8080 make up)"
        if exc.errno == errno.EADDRINUSE:
            message = (
                f"port {port} is taken (another program listens on {where}). Stop that "
                f"program, or pick another port: {other}."
            )
        else:
            message = (
                f"cannot listen on {where}: {exc.strerror or exc}. Check the host "
                "(--host, LEADFARM_HTTP_HOST) and the port (--port, LEADFARM_HTTP_PORT)."
            )
        print(f"leadfarm: {message}", file=sys.stderr)
        return None
    listener.set_inheritable(True)
    return listener


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
    listener = _listen(settings, f"leadfarm serve {service}")
    if listener is None:
        return PORT_UNAVAILABLE

    async def started() -> None:
        gcpolicy.settle()

    return _run_http(create_app(runtime, on_started=started), runtime, settings, listener)


def _tracing_configured(service_name: str) -> bool:
    """Set tracing up as the OTEL_* variables say; False (and why) when they are wrong."""
    try:
        tracing.configure(service_name)
    except ValueError as exc:
        print(f"leadfarm: bad configuration: {exc}", file=sys.stderr)
        return False
    return True


def _run_http(app: object, runtime: Runtime, settings: Settings, listener: socket.socket) -> int:
    """Serve on the bound `listener` until SIGTERM/SIGINT; 0 after a clean shutdown
    (services/ops/shutdown.py)."""
    gcpolicy.measure()
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    )
    return serve_http(runtime, config, listener)


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
