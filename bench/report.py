"""The results: a JSON file and a markdown table written into docs/benchmarks.md between
markers (a re-run rewrites the table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

# Issue 12's targets, as ratios to the ceilings measured in the same run: (this issue, later).
EMBEDDED_LEADS_PER_HTTP = (0.05, 0.10)
EMBEDDED_CPU_MS_PER_LEAD = (2.5, 1.2)
EMBEDDED_P99_MS = (50.0, 20.0)
CLUSTER_LEADS_PER_TRANSPORT = (0.10, 0.20)
CLUSTER_P99_MS = (150.0, 100.0)
INGEST_ALONE_PER_HTTP = (0.5, 0.7)
IDLE_RSS_TARGET_MB = 200.0


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _servers(values: dict[str, float] | None) -> str:
    """PostgreSQL's and Kafka's CPU per lead (cluster), or "-"."""
    if not values:
        return "-"
    return f"PG {_ms(values.get('postgres'))}, Kafka {_ms(values.get('kafka'))}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def _at_least(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def _below(value: float | None, limit: float) -> bool | None:
    return None if value is None else value < limit


def _shown(value: float, unit: str, goal: float, at_most: bool) -> str:
    """`value` to one decimal with a unit, to three as a ratio (" x"); with more digits
    when that rounding would read as the other side of `goal` (0.09995 x is not 0.100 x)."""
    met = value <= goal if at_most else value >= goal
    digits = 1 if unit else 3
    while True:
        rounded = round(value, digits)
        if (rounded <= goal if at_most else rounded >= goal) == met or digits >= 6:
            return f"{value:.{digits}f}{unit}" if unit else f"{value:.{digits}f} x"
        digits += 1


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """Each target: what, measured, the target (this issue / later), and whether it is met
    (by this issue's figure)."""
    out: list[tuple[str, str, str, bool | None]] = []
    ceilings = results.get("ceilings", {})
    bare = ceilings.get("http", {}).get("accepted_per_s")
    chain = ceilings.get("transport", {}).get("max_msgs_per_s")
    runtimes = results.get("runtimes", {})

    def phase(runtime: str, name: str) -> dict[str, Any]:
        phases: dict[str, dict[str, Any]] = runtimes.get(runtime, {}).get("phases", {})
        return phases.get(name, {})

    def ratio(value: float | None, ceiling: float | None) -> float | None:
        return value / ceiling if value and ceiling else None

    def row(
        what: str, value: float | None, unit: str, goal: tuple[float, float], at_most: bool
    ) -> None:
        """A ratio or a figure in `unit` against (this issue, later): at least the goal,
        or at most it when `at_most`."""
        met = None if value is None else value <= goal[0] if at_most else value >= goal[0]
        shown = "-" if value is None else _shown(value, unit, goal[0], at_most)
        sign = "<=" if at_most else ">="
        out.append((what, shown, f"{sign} {goal[0]:g}{unit} / {goal[1]:g}{unit}", met))

    if "embedded" in runtimes:
        row(
            "embedded leads/s end to end / bare HTTP ceiling",
            ratio(phase("embedded", "max").get("leads_per_s"), bare),
            "",
            EMBEDDED_LEADS_PER_HTTP,
            False,
        )
        row(
            "embedded CPU per lead (max phase)",
            phase("embedded", "max").get("cpu_ms_per_lead"),
            " ms",
            EMBEDDED_CPU_MS_PER_LEAD,
            True,
        )
        fixed = phase("embedded", "fixed")
        row(
            f"embedded p99 webhook -> rep at {fixed.get('rate', 0):g} leads/s",
            fixed.get("latency_ms", {}).get("p99"),
            " ms",
            EMBEDDED_P99_MS,
            True,
        )
    if "cluster" in runtimes:
        row(
            "cluster leads/s end to end / 2-hop transport ceiling",
            ratio(phase("cluster", "max").get("leads_per_s"), chain),
            "",
            CLUSTER_LEADS_PER_TRANSPORT,
            False,
        )
        fixed = phase("cluster", "fixed")
        row(
            f"cluster p99 webhook -> rep at {fixed.get('rate', 0):g} leads/s",
            fixed.get("latency_ms", {}).get("p99"),
            " ms",
            CLUSTER_P99_MS,
            True,
        )
    alone = results.get("ingest_alone")
    if alone:
        row(
            "ingest endpoint alone / bare HTTP ceiling",
            ratio(alone.get("accepted_per_s"), bare),
            "",
            INGEST_ALONE_PER_HTTP,
            False,
        )
    bad = [
        f"{n}: {c['lost']} lost, {c['duplicate_leads']} duplicated, "
        f"{c['duplicate_assignments']} double-assigned"
        for n, r in runtimes.items()
        for c in [r["checks"]]
    ]
    if bad:
        clean = all(
            r["checks"]["lost"] == 0
            and r["checks"]["duplicate_leads"] == 0
            and r["checks"]["duplicate_assignments"] == 0
            for r in runtimes.values()
        )
        out.append(("lost, duplicated, double-assigned leads", "; ".join(bad), "0 / 0", clean))
    embedded = runtimes.get("embedded")
    if embedded:
        idle = embedded["processes"]["all-in-one"]["idle_rss_mb"]
        out.append(
            (
                "all-in-one process RSS idle",
                f"{idle:.0f} MB",
                f"< {IDLE_RSS_TARGET_MB:.0f} MB",
                idle < IDLE_RSS_TARGET_MB,
            )
        )
    return out


def where_the_time_goes(results: dict[str, Any]) -> list[str]:
    """Per runtime, the max phase's CPU ms per lead by process and statements per lead by
    service."""
    lines = [
        "",
        "| runtime | max phase, per lead | "
        + " | ".join(("ingest", "qualifier", "router", "nurture", "audit", "other", "total"))
        + " |",
        "| --- | --- | " + " | ".join(["---:"] * 7) + " |",
    ]
    services = ("ingest", "qualifier", "router", "nurture", "audit")
    for name, r in results.get("runtimes", {}).items():
        p = r["phases"].get("max", {})
        for what, key in (
            ("CPU ms", "cpu_ms_per_lead_by_process"),
            ("SQL statements", "statements_per_lead"),
        ):
            values: dict[str, float] = p.get(key, {})
            if not values:
                continue
            other = sum(v for k, v in values.items() if k not in (*services, "total"))
            cells = [_ms(values.get(s)) if s in values else "-" for s in services]
            cells += [_ms(other) if other else "-", _ms(values.get("total"))]
            lines.append(f"| {name} | {what} | " + " | ".join(cells) + " |")
    return lines if len(lines) > 3 else []


def libraries(packages: dict[str, str] | None) -> str:
    """The hot path's libraries and their versions, as a sentence (nothing for a run from
    before they were recorded)."""
    if not packages:
        return ""
    return " Libraries: " + ", ".join(f"{name} {v}" for name, v in packages.items()) + "."


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        f"Run {results['started_at']} with `{results['command']}`; the JSON is "
        f"`{results['json']}`.",
        "",
        f"Machine: {env['cpus']} cores"
        + (f" ({env['cpu_model']})" if env.get("cpu_model") else "")
        + f", {env['memory_gb']} GB memory, {env['platform']}. "
        f"Versions: Python {env['python']}, Kafka {env['kafka']}, PostgreSQL {env['postgresql']}, "
        f"leadfarm {env['leadfarm']}. Driver: {env['driver']}." + libraries(env.get("packages")),
        "",
        "| runtime | phase | webhooks accepted/s | leads/s end to end "
        "| latency p50 / p95 / p99 / max (ms) | CPU ms per lead | servers' CPU ms per lead "
        "| machine busy | lost | duplicates |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
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
                f"{_ms(p['cpu_ms_per_lead'])} | {_servers(p.get('cpu_ms_per_lead_servers'))} | "
                f"{_share(p.get('machine_busy'))} | {p['lost']} | {dupes} |"
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
            floor = ceilings.get("durable")
            if floor:
                lines.append(durable_floor_row(floor, bare, alone))
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
    lines += where_the_time_goes(results)
    lines += [
        "",
        "| figure | measured | target (this issue / later) | |",
        "| --- | --- | --- | --- |",
    ]
    for what, measured, goal, ok in targets(results):
        lines.append(f"| {what} | {measured} | {goal} | {_met(ok)} |")
    return "\n".join(lines)


def durable_floor_row(
    floor: dict[str, Any], bare: dict[str, Any], alone: dict[str, Any] | None
) -> str:
    """The durable floor's line in the ceilings table: its throughput, and the ratios that
    say how far the ingest endpoint alone could go and how far it is from there."""
    lat = floor["http_latency_ms"]
    ratios = [f"the floor {floor['accepted_per_s'] / bare['accepted_per_s']:.2f} x the bare HTTP"]
    if alone:
        ratios.append(
            f"ingest alone {alone['accepted_per_s'] / floor['accepted_per_s']:.2f} x the floor"
        )
    if floor.get("outbox_left"):
        ratios.append(f"its relay left {floor['outbox_left']} rows behind")
    return (
        "| durable floor: parse, HMAC, group commit + outbox, relay to Kafka "
        f"(bench/durable.py), {floor['cpu_ms_per_request']:.2f} ms CPU per webhook | "
        f"{_num(floor['accepted_per_s'])} req/s | {_ms(lat['p50'])} / {_ms(lat['p99'])} | "
        f"{'; '.join(ratios)} |"
    )


def write_doc(results: dict[str, Any], doc: Path = DOC) -> None:
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{START}\n{markdown(results)}\n{END}{tail}")
