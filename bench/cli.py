"""`leadfarm bench`: the options and the run. Imports nothing heavy at module level (the
`leadfarm` command line imports this to list the options)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_DATABASE = "postgresql://leadfarm:leadfarm@127.0.0.1:5432/leadfarm"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime",
        choices=["embedded", "cluster", "both"],
        default="both",
        help="which runtime to measure (both)",
    )
    parser.add_argument("--rate", type=float, default=100.0, help="fixed rate, webhooks/s (100)")
    parser.add_argument("--duration", type=float, default=20.0, help="fixed-rate phase, s (20)")
    parser.add_argument(
        "--steady-rate",
        type=float,
        default=10.0,
        help="a first fixed-rate phase the system keeps up with, webhooks/s (10; 0: none)",
    )
    parser.add_argument("--max-duration", type=float, default=20.0, help="max-rate phase, s (20)")
    parser.add_argument("--concurrency", type=int, default=32, help="max-rate senders (32)")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="how long to wait for the last lead.assigned before calling it lost",
    )
    parser.add_argument("--out", type=Path, help="the JSON file (bench/results/<timestamp>.json)")
    parser.add_argument("--doc", type=Path, help="the markdown to update (docs/benchmarks.md)")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--smoke", action="store_true", help="a tiny run: checks, not timings")
    parser.add_argument(
        "--no-ceilings", action="store_true", help="skip the HTTP and Kafka ceilings"
    )
    parser.add_argument("--partitions", type=int, default=6, help="topic partitions (cluster)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LEADFARM_BENCH_POSTGRES", DEFAULT_DATABASE),
        help="a PostgreSQL server the bench may create a database in (LEADFARM_BENCH_POSTGRES)",
    )
    parser.add_argument(
        "--kafka",
        default=os.environ.get("LEADFARM_BENCH_KAFKA", "127.0.0.1:9092"),
        help="Kafka bootstrap servers (LEADFARM_BENCH_KAFKA)",
    )


BENCH_EXTRA = ("psutil",)
"""What `leadfarm bench` needs beyond the run-time dependencies: the `bench` extra."""


def run(args: argparse.Namespace) -> int:
    import asyncio
    import importlib.util
    import sys

    missing = [name for name in BENCH_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"leadfarm bench: needs {', '.join(missing)}, which a run-time install (`make up`) "
            "leaves out; install the `bench` extra: .venv/bin/pip install -e '.[bench]' (from "
            "a clone) or pip install 'leadfarm[bench]'",
            file=sys.stderr,
        )
        return 2

    from bench.main import main

    return asyncio.run(main(args))


def entry(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="leadfarm bench")
    add_arguments(parser)
    return run(parser.parse_args(argv))
