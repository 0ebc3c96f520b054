"""The results: a JSON file and a markdown table written into docs/benchmarks.md between
markers (a re-run rewrites the table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

# (runtime, what, limit): leads/s at least, p99 ms below, at a fixed 100/s.
TARGETS = {"embedded": (800.0, 20.0), "cluster": (400.0, 100.0)}
RATIO_TARGET = 0.5
IDLE_RSS_TARGET_MB = 200.0


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """Each target, what was measured, and whether it was met."""
    out: list[tuple[str, str, bool | None]] = []
    bare = results.get("ceilings", {}).get("http")
    for runtime, (min_rate, max_p99) in TARGETS.items():
        r = results.get("runtimes", {}).get(runtime)
        if r is None:
            continue
        rate = r["phases"]["max"]["leads_per_s"]
        p99 = r["phases"]["fixed"]["latency_ms"]["p99"]
        fixed_rate = r["phases"]["fixed"]["rate"]
        out.append(
            (
                f"{runtime}: >= {min_rate:.0f} leads/s end to end",
                f"{_num(rate)}/s",
                None if rate is None else rate >= min_rate,
            )
        )
        out.append(
            (
                f"{runtime}: p99 < {max_p99:.0f} ms at 100 leads/s",
                f"{_ms(p99)} ms at {fixed_rate:g}/s",
                None if p99 is None or fixed_rate != 100 else p99 < max_p99,
            )
        )
        accepted = r["phases"]["max"]["accepted_per_s"]
        if bare and accepted:
            ratio = accepted / bare["accepted_per_s"]
            out.append(
                (
                    f"{runtime}: ingest endpoint under full load >= {RATIO_TARGET:g} x bare",
                    f"{ratio:.2f} x",
                    ratio >= RATIO_TARGET,
                )
            )
    alone = results.get("ingest_alone")
    if bare and alone:
        ratio = alone["accepted_per_s"] / bare["accepted_per_s"]
        out.append(
            (
                f"ingest endpoint alone >= {RATIO_TARGET:g} x bare endpoint",
                f"{ratio:.2f} x",
                ratio >= RATIO_TARGET,
            )
        )
    embedded = results.get("runtimes", {}).get("embedded")
    if embedded:
        idle = embedded["processes"]["all-in-one"]["idle_rss_mb"]
        out.append(
            (
                f"all-in-one process < {IDLE_RSS_TARGET_MB:.0f} MB RSS idle",
                f"{idle:.0f} MB",
                idle < IDLE_RSS_TARGET_MB,
            )
        )
    return out


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        f"Run {results['started_at']} with `{results['command']}`; the JSON is "
        f"`{results['json']}`.",
        "",
        f"Machine: {env['cpus']} cores, {env['memory_gb']} GB memory, {env['platform']}. "
        f"Versions: Python {env['python']}, Kafka {env['kafka']}, PostgreSQL {env['postgresql']}, "
        f"leadfarm {env['leadfarm']}. Driver: {env['driver']}.",
        "",
        "| runtime | phase | webhooks accepted/s | leads/s end to end "
        "| latency p50 / p95 / p99 / max (ms) | CPU ms per lead | lost | duplicates |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for name, r in results.get("runtimes", {}).items():
        checks = r["checks"]
        dupes = checks["duplicate_leads"] + checks["duplicate_assignments"]
        for phase in ("steady", "fixed", "max"):
            if phase not in r["phases"]:
                continue
            p = r["phases"][phase]
            lat = p["latency_ms"]
            label = {
                "steady": f"steady {p.get('rate', 0):g}/s",
                "fixed": f"fixed {p.get('rate', 0):g}/s",
                "max": f"max ({p.get('concurrency')} senders)",
            }[phase]
            lines.append(
                f"| {name} | {label} | {_num(p['accepted_per_s'])} | {_num(p['leads_per_s'])} | "
                f"{_ms(lat['p50'])} / {_ms(lat['p95'])} / {_ms(lat['p99'])} / {_ms(lat['max'])} | "
                f"{_ms(p['cpu_ms_per_lead'])} | {p['lost']} | {dupes} |"
            )
    lines += [
        "",
        "| runtime | process | idle RSS (MB) | peak RSS (MB) |",
        "| --- | --- | ---: | ---: |",
    ]
    for name, r in results.get("runtimes", {}).items():
        for proc, mem in r["processes"].items():
            lines.append(
                f"| {name} | {proc} | {mem['idle_rss_mb']:.0f} | {mem['peak_rss_mb']:.0f} |"
            )
    ceilings = results.get("ceilings", {})
    if ceilings:
        lines += [
            "",
            "| ceiling | throughput | latency p50 / p99 (ms) | Leadfarm as a ratio |",
            "| --- | ---: | --- | --- |",
        ]
        bare = ceilings.get("http")
        if bare:
            lat = bare["http_latency_ms"]
            ratio_list = [
                f"{n} ingest under load "
                f"{r['phases']['max']['accepted_per_s'] / bare['accepted_per_s']:.2f} x"
                for n, r in results.get("runtimes", {}).items()
                if r["phases"]["max"]["accepted_per_s"]
            ]
            alone = results.get("ingest_alone")
            if alone:
                ratio_list.append(
                    f"ingest alone {alone['accepted_per_s'] / bare['accepted_per_s']:.2f} x"
                )
            lines.append(
                f"| HTTP: bare uvicorn + FastAPI 202 ({bare['concurrency']} senders) | "
                f"{_num(bare['accepted_per_s'])} req/s | {_ms(lat['p50'])} / {_ms(lat['p99'])} "
                f"| {', '.join(ratio_list)} |"
            )
            if alone:
                lat = alone["http_latency_ms"]
                lines.append(
                    f"| (measured) ingest alone: one `leadfarm serve ingest`, "
                    f"{alone['cpu_ms_per_request']:.1f} ms CPU per webhook | "
                    f"{_num(alone['accepted_per_s'])} req/s | "
                    f"{_ms(lat['p50'])} / {_ms(lat['p99'])} | |"
                )
        chain = ceilings.get("transport")
        if chain:
            cluster = results.get("runtimes", {}).get("cluster")
            ratio = ""
            if cluster and cluster["phases"]["max"]["leads_per_s"]:
                share = cluster["phases"]["max"]["leads_per_s"] / chain["max_msgs_per_s"]
                ratio = f"cluster leads/s {share:.2f} x"
                c99 = cluster["phases"]["fixed"]["latency_ms"]["p99"]
                t99 = chain["fixed_latency_ms"]["p99"]
                if c99 and t99:
                    ratio += (
                        f"; cluster p99 at {chain['fixed_rate']:g}/s {c99 / t99:.1f} x the chain's"
                    )
            lines.append(
                f"| transport: aiokafka chain, {chain['hops']} hops "
                f"| {_num(chain['max_msgs_per_s'])} msg/s "
                f"| {_ms(chain['fixed_latency_ms']['p50'])} / "
                f"{_ms(chain['fixed_latency_ms']['p99'])} at {chain['fixed_rate']:g}/s | {ratio} |"
            )
    lines += ["", "| target | measured | |", "| --- | --- | --- |"]
    for what, measured, ok in targets(results):
        lines.append(f"| {what} | {measured} | {_met(ok)} |")
    return "\n".join(lines)


def write_doc(results: dict[str, Any], doc: Path = DOC) -> None:
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{START}\n{markdown(results)}\n{END}{tail}")
