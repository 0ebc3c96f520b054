"""The whole benchmark: each runtime asked for, then the ceilings, then the results."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import shlex
import sys
import tempfile
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.run import Options, run_bare, run_durable_floor, run_ingest_alone, run_system
from bench.systems import Cluster, Embedded, System, kafka_version, postgres_version

RESULTS = Path("bench") / "results"


def options_of(args: argparse.Namespace) -> Options:
    if args.smoke:
        return Options(
            rate=20,
            duration=2,
            steady_rate=5,
            max_duration=2,
            concurrency=4,
            drain_timeout=30,
            verify_sample=50,
            warmup=0.5,
        )
    return Options(
        rate=args.rate,
        duration=args.duration,
        steady_rate=args.steady_rate,
        max_duration=args.max_duration,
        concurrency=args.concurrency,
        drain_timeout=args.drain_timeout,
    )


async def environment(args: argparse.Namespace, cluster: bool) -> dict[str, Any]:
    postgres = "not used"
    if cluster:
        try:
            postgres = await postgres_version(args.database_url)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            postgres = f"unknown ({exc})"
    return {
        "cpus": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kafka": kafka_version() if cluster else "not used",
        "postgresql": postgres,
        "leadfarm": version("leadfarm"),
        "packages": package_versions(),
        "cpu_model": cpu_model(),
        "load_average": [round(x, 2) for x in psutil.getloadavg()],
        "driver": "one process, one aiohttp.ClientSession (connection pool), receiver in the same "
        "event loop",
    }


PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "pydantic-core",
    "sqlalchemy",
    "asyncpg",
    "aiokafka",
    "aiohttp",
    "orjson",
)
"""The libraries on a lead's hot path: `make install` takes their newest releases, so two
runs on different days may not run the same code."""


def package_versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def cpu_model() -> str:
    """The first processor as Linux describes it, e.g. "AMD EPYC (family 25, model 17),
    2596 MHz" ("unknown" elsewhere): cloud machines of the same size differ in it, and so
    in speed."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    if "model name" not in fields:
        return "unknown"
    mhz = fields.get("cpu MHz", "").partition(".")[0]
    return (
        f"{fields['model name']} (family {fields.get('cpu family', '?')}, "
        f"model {fields.get('model', '?')})" + (f", {mhz} MHz" if mhz else "")
    )


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def main(args: argparse.Namespace) -> int:
    options = options_of(args)
    started = datetime.now(UTC)
    runtimes = ["embedded", "cluster"] if args.runtime == "both" else [args.runtime]
    out = args.out or RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    results: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "command": "leadfarm bench "
        + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["bench"] else sys.argv[1:]),
        "json": str(out),
        "options": vars(options),
        "environment": await environment(args, "cluster" in runtimes),
        "runtimes": {},
        "ceilings": {},
    }
    for runtime in runtimes:
        say(f"bench: {runtime} ...")
        system: System = (
            Embedded()
            if runtime == "embedded"
            else Cluster(args.database_url, args.kafka, partitions=args.partitions)
        )
        results["runtimes"][runtime] = await run_system(system, options)
    if not args.no_ceilings:
        from bench.ceilings import kafka_chain

        say("bench: HTTP ceiling ...")
        results["ceilings"]["http"] = await run_bare(
            options, Path(tempfile.mkdtemp(prefix="bench-bare-"))
        )
        if "cluster" in runtimes:
            say("bench: the ingest endpoint alone ...")
            alone = Cluster(
                args.database_url, args.kafka, partitions=args.partitions, services=["ingest"]
            )
            results["ingest_alone"] = await run_ingest_alone(alone, options)
            say("bench: the durable floor ...")
            results["ceilings"]["durable"] = await run_durable_floor(
                options,
                Path(tempfile.mkdtemp(prefix="bench-durable-")),
                args.database_url,
                args.kafka,
                args.partitions,
            )
        if "cluster" in runtimes:
            say("bench: transport ceiling ...")
            chain = await kafka_chain(
                args.kafka, options.rate, options.duration, options.max_duration, args.partitions
            )
            results["ceilings"]["transport"] = vars(chain)
    results["targets"] = [
        {"target": what, "measured": measured, "goal": goal, "met": ok}
        for what, measured, goal, ok in report.targets(results)
    ]
    report.write_json(results, out)
    if not args.no_doc:
        report.write_doc(results, args.doc or report.DOC)
    print(report.markdown(results))
    broken = [
        name
        for name, r in results["runtimes"].items()
        if r["checks"]["lost"]
        or r["checks"]["duplicate_leads"]
        or r["checks"]["duplicate_assignments"]
    ]
    if broken:
        say(f"bench: leads lost or duplicated on {', '.join(broken)}")
        return 1
    return 0


def run_async(args: argparse.Namespace) -> int:
    return asyncio.run(main(args))
