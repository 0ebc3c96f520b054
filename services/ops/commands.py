"""The operations commands of the `leadfarm` CLI: `dlq`, `lag`, `replay` and `timers`.

Each works on the runtime the settings describe: the cluster when `LEADFARM_DATABASE_URL`
is a PostgreSQL URL (Kafka from `LEADFARM_KAFKA_BOOTSTRAP_SERVERS`), else the embedded
SQLite file in `--data-dir`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import orjson

from contracts.topics import SERVICES, ServiceName
from services.settings import Settings

if TYPE_CHECKING:
    from services.runtime import Runtime

# The operations modules pull in the whole runtime; they are imported when a command runs,
# so `leadfarm contracts ...` stays quick.

COMMANDS = ("dlq", "lag", "replay", "timers")


def add_parsers(sub: Any) -> None:
    """Add `dlq`, `lag`, `replay` and `timers` to the CLI's subparsers."""
    dlq_p = sub.add_parser("dlq", help="dead letters: list, show, replay")
    dlq_sub = dlq_p.add_subparsers(dest="dlq_action", required=True)
    listing = dlq_sub.add_parser("list", help="dead letters per service")
    listing.add_argument("--service", choices=SERVICES, help="one service (default: all)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = dlq_sub.add_parser("show", help="one dead letter, personal data masked")
    show.add_argument("service", choices=SERVICES, help="the service that dead-lettered it")
    show.add_argument("id", help="the id from `dlq list` (or the dlq-... event id)")
    show.add_argument(
        "--unredacted", action="store_true", help="print the person's data as received"
    )
    again = dlq_sub.add_parser("replay", help="send dead letters back to their topic, once")
    again.add_argument("service", choices=SERVICES, help="the service that dead-lettered them")
    again.add_argument("ids", nargs="*", help="ids from `dlq list`")
    again.add_argument("--all", action="store_true", help="every pending dead letter")

    lag_p = sub.add_parser("lag", help="consumer lag per group and partition")
    lag_p.add_argument("--service", choices=SERVICES, help="one service (default: all)")
    lag_p.add_argument("--json", action="store_true", help="one JSON object per line")

    rep = sub.add_parser("replay", help="rebuild a service's read models from its topics")
    rep.add_argument(
        "--service", choices=SERVICES, required=True, help="the service whose models to rebuild"
    )
    rep.add_argument("--since", required=True, help="ISO 8601 time, or a duration: 30m, 2h, 7d")

    timers_p = sub.add_parser("timers", help="durable timers given up after their last attempt")
    timers_sub = timers_p.add_subparsers(dest="timers_action", required=True)
    given_up = timers_sub.add_parser("list", help="timers given up, per service, newest first")
    given_up.add_argument("--service", choices=SERVICES, help="one service (default: all)")
    given_up.add_argument("--json", action="store_true", help="one JSON object per line")
    rearm = timers_sub.add_parser("retry", help="arm given-up timers again, due now")
    rearm.add_argument("service", choices=SERVICES, help="the service that owns the timers")
    rearm.add_argument("ids", nargs="+", type=int, help="ids from `timers list`")

    for parser in (listing, show, again, lag_p, rep, given_up, rearm):
        parser.add_argument("--data-dir", help="the embedded data directory (./leadfarm-data)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from services.ops.replay import ReplayRefused

    try:
        return asyncio.run(_run(args, settings))
    except (ReplayRefused, ValueError, LookupError) as exc:
        print(f"leadfarm: {exc}", file=sys.stderr)
        return 1


def is_cluster(settings: Settings) -> bool:
    return bool(settings.database_url and settings.database_url.startswith("postgresql"))


def runtimes_for(settings: Settings, services: Sequence[ServiceName]) -> list[Runtime]:
    """Unstarted runtimes to operate on: one per service in the cluster, one embedded."""
    from services.runtime import cluster_runtime, embedded_runtime

    if is_cluster(settings):
        return [cluster_runtime(settings, s) for s in services]
    if not (settings.data_dir / "leadfarm.db").exists():
        raise LookupError(
            f"no embedded database in {settings.data_dir} (pass --data-dir, or set "
            "LEADFARM_DATABASE_URL for the cluster)"
        )
    return [embedded_runtime(settings)]


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from services.ops import replay

    if args.command in ("dlq", "timers"):
        service = getattr(args, "service", None)
        names = [cast(ServiceName, service)] if service else list(SERVICES)
    elif args.command == "lag":
        names = [cast(ServiceName, args.service)] if args.service else list(SERVICES)
    else:
        names = [cast(ServiceName, args.service)]
    runtimes = runtimes_for(settings, names)
    try:
        if args.command == "lag":
            return await lag_command(runtimes, names, as_json=args.json)
        if args.command == "replay":
            since = replay.parse_since(args.since, datetime.now(UTC))
            return await replay_command(runtimes[0], names[0], since)
        if args.command == "timers":
            if args.timers_action == "list":
                return await timers_list(runtimes, names, as_json=args.json)
            return await timers_retry(runtimes[0], names[0], args.ids)
        if args.dlq_action == "list":
            return await dlq_list(runtimes, names, as_json=args.json)
        if args.dlq_action == "show":
            return await dlq_show(runtimes[0], names[0], args.id, unredacted=args.unredacted)
        return await dlq_replay(runtimes[0], names[0], args.ids, replay_all=args.all)
    finally:
        for runtime in runtimes:
            await runtime.database.dispose()


async def dlq_list(runtimes: list[Runtime], names: Sequence[ServiceName], *, as_json: bool) -> int:
    from services.ops import dlq

    for name in names:
        runtime = _runtime_of(runtimes, name)
        letters = await dlq.list_dead_letters(runtime, name)
        pending = sum(1 for lt in letters if lt.status == "pending")
        if as_json:
            for letter in letters:
                print(orjson.dumps({"service": name, **letter.summary()}).decode())
            continue
        print(f"{name}: {len(letters)} dead letter(s), {pending} pending")
        for letter in letters:
            s = letter.summary()
            print(
                f"  {s['id']:>6}  {s['dead_at']}  {s['status']:<8}  {s['event_type'] or '-'}  "
                f"{s['event_id'] or '-'}  {s['original']}  {s['error']}"
            )
    return 0


async def timers_list(
    runtimes: list[Runtime], names: Sequence[ServiceName], *, as_json: bool
) -> int:
    from services.logs import redact
    from services.timers import given_up

    for name in names:
        unit = _runtime_of(runtimes, name).units[name]
        async with unit.read() as conn:
            found = await given_up(conn, name)
        if not as_json:
            print(f"{name}: {len(found)} timer(s) given up")
        for timer in found:
            row = {
                "service": name,
                "id": timer.id,
                "kind": timer.kind,
                "key": timer.key,
                "due_at": timer.due_at.isoformat(),
                "given_up_at": timer.given_up_at.isoformat(),
                "attempts": timer.attempts,
                "error": redact(timer.last_error or ""),
            }
            if as_json:
                print(orjson.dumps(row).decode())
            else:
                print(
                    f"  {timer.id:>6}  {row['given_up_at']}  {timer.kind}  {timer.key}  "
                    f"{timer.attempts} attempts  {row['error']}"
                )
    return 0


async def timers_retry(runtime: Runtime, service: ServiceName, ids: Sequence[int]) -> int:
    from services.timers import retry_given_up

    failed = 0
    for timer_id in ids:
        async with runtime.units[service].transaction() as tx:
            armed = await retry_given_up(tx, timer_id)
        print(f"{timer_id}: {'armed, due now' if armed else 'not a given-up timer of ' + service}")
        failed += not armed
    return 1 if failed else 0


async def dlq_show(runtime: Runtime, service: ServiceName, ref: str, *, unredacted: bool) -> int:
    from services.ops import dlq

    letter = await dlq.get_dead_letter(runtime, service, ref)
    if letter is None:
        raise LookupError(f"no dead letter {ref!r} for {service} (see `leadfarm dlq list`)")
    # Printed to stdout for the operator, never logged.
    print(orjson.dumps(letter.envelope(unredacted=unredacted), option=orjson.OPT_INDENT_2).decode())
    return 0


async def dlq_replay(
    runtime: Runtime, service: ServiceName, refs: Sequence[str], *, replay_all: bool
) -> int:
    from services.ops import dlq

    if bool(refs) == replay_all:
        raise ValueError("name the dead letters to replay, or pass --all (not both)")
    letters = await dlq.list_dead_letters(runtime, service)
    if replay_all:
        chosen = [lt for lt in letters if lt.status == "pending"]
    else:
        by_ref = {str(lt.id): lt for lt in letters} | {lt.dlq_event_id: lt for lt in letters}
        missing = [r for r in refs if r not in by_ref]
        if missing:
            raise LookupError(f"no dead letter {', '.join(missing)} for {service}")
        chosen = [by_ref[r] for r in refs]
    failed = 0
    replayed = 0
    for letter in chosen:
        result = await dlq.replay_dead_letter(runtime, letter)
        replayed += result == "replayed"
        failed += result != "replayed"
        print(f"{letter.id}: {result}")
    if replayed and runtime.mode == "cluster":
        print(await _flush(runtime, service))
    if not chosen:
        print(f"{service}: nothing to replay")
    return 1 if failed else 0


async def _flush(runtime: Runtime, service: ServiceName) -> str:
    """Publish the replayed records now, unless the service's own relay holds the lock."""
    from services.outbox import OutboxRelay

    await runtime.bus.start()
    try:
        relay = OutboxRelay(
            runtime.units[service],
            runtime.bus,  # type: ignore[arg-type]  # the cluster bus is the publisher
            batch_size=runtime.settings.relay_batch_size,
            poll_interval_s=runtime.settings.relay_poll_interval_s,
        )
        sent = 0
        try:
            while (n := await relay.relay_once()) > 0:
                sent += n
        finally:
            await relay.release()  # marks what it published, gives the lead back
    finally:
        await runtime.bus.stop()
    if sent:
        return f"published {sent} record(s) to Kafka"
    return f"written to {service}'s outbox; its running relay publishes them"


async def lag_command(
    runtimes: list[Runtime], names: Sequence[ServiceName], *, as_json: bool
) -> int:
    from services.ops import lag

    rows = await lag.consumer_lag(runtimes)
    wanted = {f"{r.settings.topic_namespace}.{n}" for r in runtimes for n in names}
    rows = [r for r in rows if r.group in wanted]
    if as_json:
        for row in rows:
            print(orjson.dumps(row.__dict__).decode())
        return 0
    print(f"{'group':<28} {'topic':<28} {'part':>4} {'committed':>10} {'end':>10} {'lag':>8}")
    for row in rows:
        committed = "-" if row.committed is None else str(row.committed)
        print(
            f"{row.group:<28} {row.topic:<28} {row.partition:>4} {committed:>10} "
            f"{row.end:>10} {row.lag:>8}"
        )
    return 0


async def replay_command(runtime: Runtime, service: ServiceName, since: datetime) -> int:
    from services.ops import replay

    report = await replay.replay(runtime, service, since)
    print(
        f"replayed {service} since {since.isoformat()}: {report.read} read, "
        f"{report.applied} applied, {report.ignored} ignored, {report.not_events} not events, "
        f"{report.emits_suppressed} emitted event(s) suppressed, {report.failed} failed"
    )
    for failure in report.failures:
        print(f"  failed: {failure}")
    return 1 if report.failed else 0


def _runtime_of(runtimes: list[Runtime], service: ServiceName) -> Runtime:
    for runtime in runtimes:
        if service in runtime.units:
            return runtime
    raise LookupError(service)
