"""One runtime's benchmark: start it, configure it, drive a steady phase (a fixed rate the
system keeps up with), a fixed-rate phase and a max-rate phase, wait after each for every
lead's `lead.assigned`, and check loss and duplicates."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import psutil

from bench import driver
from bench.configure import configure, configure_sources, leads_of
from bench.driver import Sent
from bench.receiver import Assignment, Receiver
from bench.stats import latency_of
from bench.systems import Proc, System, free_port, machine_busy_seconds
from bench.workload import Workload

MB = 1024 * 1024


@dataclass
class Options:
    rate: float = 100.0
    duration: float = 20.0
    steady_rate: float = 10.0  # 0: no steady phase
    max_duration: float = 20.0
    concurrency: int = 32
    drain_timeout: float = 60.0
    verify_sample: int = 300
    warmup: float = 1.0


def first_accepted(sends: list[Sent]) -> dict[str, Sent]:
    """Per person, the earliest accepted webhook: the one that created their lead."""
    first: dict[str, Sent] = {}
    for sent in sends:
        if sent.accepted:
            key = sent.delivery.person.key
            if key not in first or sent.intended < first[key].intended:
                first[key] = sent
    return first


def first_assignment(receiver: Receiver) -> dict[str, Assignment]:
    first: dict[str, Assignment] = {}
    for a in receiver.assignments:
        if a.email is not None and (a.email not in first or a.arrived < first[a.email].arrived):
            first[a.email] = a
    return first


async def drain(receiver: Receiver, sends: list[Sent], within: float) -> bool:
    """Wait until every person with an accepted webhook has an assignment."""
    deadline = time.monotonic() + within
    expected = set(first_accepted(sends))
    while time.monotonic() < deadline:
        if expected <= {a.email for a in receiver.assignments}:
            return True
        receiver.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.arrived.wait(), timeout=0.5)
    return False


@dataclass
class Usage:
    """What the system's processes had spent at one moment: CPU per process, statements
    per service, the CPU of the servers it runs on (cluster), and the machine's busy CPU
    time, at a moment of the monotonic clock."""

    cpu_s: dict[str, float]
    statements: dict[str, float]
    servers_cpu_s: dict[str, float] = field(default_factory=dict)
    machine_busy_s: float = 0.0
    at: float = 0.0

    @classmethod
    async def now(cls, system: System) -> Usage:
        statements = await system.statements()
        return cls(
            system.cpu_seconds_by_process(),
            statements,
            system.server_cpu_seconds(),
            machine_busy_seconds(),
            time.monotonic(),
        )

    def since(self, before: Usage) -> Usage:
        return Usage(
            {k: v - before.cpu_s.get(k, 0.0) for k, v in self.cpu_s.items()},
            {k: v - before.statements.get(k, 0.0) for k, v in self.statements.items()},
            {k: v - before.servers_cpu_s.get(k, 0.0) for k, v in self.servers_cpu_s.items()},
            self.machine_busy_s - before.machine_busy_s,
            self.at - before.at,
        )

    def machine_busy(self) -> float | None:
        """The share of the machine's cores that were busy (anything: Leadfarm, its servers,
        the driver) over the span: near 1 means the figures were taken at saturation."""
        cores = psutil.cpu_count() or 1
        return round(self.machine_busy_s / (self.at * cores), 3) if self.at > 0 else None


def per_lead(values: dict[str, float], leads: int, scale: float = 1.0) -> dict[str, float]:
    if not leads:
        return {}
    shares = {k: round(v * scale / leads, 2) for k, v in sorted(values.items()) if v}
    return {**shares, "total": round(sum(values.values()) * scale / leads, 2)}


def phase_result(
    phase: str, sends: list[Sent], receiver: Receiver, used: Usage, started: float
) -> dict[str, Any]:
    cpu_s = sum(used.cpu_s.values())
    mine = [s for s in sends if s.phase == phase]
    created = {k: s for k, s in first_accepted(sends).items() if s.phase == phase}
    assigned = first_assignment(receiver)
    accepted = [s for s in mine if s.accepted]
    span = max((s.answered for s in mine), default=started) - min(
        (s.intended for s in mine), default=started
    )
    arrivals = [assigned[k].arrived for k in created if k in assigned]
    leads = len(arrivals)
    e2e_span = (max(arrivals) - started) if arrivals else 0.0
    return {
        "webhooks_sent": len(mine),
        "webhooks_accepted": len(accepted),
        "rejected_by_status": driver.rejections(mine),
        "accepted_per_s": round(len(accepted) / span, 1) if span > 0 else None,
        "http_latency_ms": latency_of([s.answered - s.intended for s in accepted]),
        "new_leads": len(created),
        "leads_assigned": leads,
        "leads_per_s": round(leads / e2e_span, 1) if e2e_span > 0 else None,
        "latency_ms": latency_of(
            [assigned[k].arrived - s.intended for k, s in created.items() if k in assigned]
        ),
        "lost": len(created) - leads,
        "cpu_s": round(cpu_s, 2),
        "cpu_ms_per_lead": round(cpu_s * 1000 / leads, 2) if leads else None,
        "cpu_ms_per_lead_by_process": per_lead(used.cpu_s, leads, 1000),
        "statements_per_lead": per_lead(used.statements, leads),
        "cpu_ms_per_lead_servers": (
            per_lead(used.servers_cpu_s, leads, 1000) if used.servers_cpu_s else {}
        ),
        "machine_busy": used.machine_busy(),
    }


def integrity(receiver: Receiver, sends: list[Sent]) -> dict[str, Any]:
    by_email: dict[str, set[str]] = defaultdict(set)
    per_lead = Counter(a.lead_id for a in receiver.assignments)
    for a in receiver.assignments:
        by_email[a.email or "?"].add(a.lead_id)
    known = set(first_accepted(sends))
    return {
        "people": len(known),
        "lost": len(known - set(by_email)),
        "duplicate_leads": sum(1 for ids in by_email.values() if len(ids) > 1),
        "duplicate_assignments": sum(1 for n in per_lead.values() if n > 1),
        "unexpected_assignments": sum(1 for e in by_email if e not in known),
        "redelivered_webhooks": receiver.redeliveries,
        "bad_signatures": receiver.bad_signatures,
    }


class Sampler:
    """RSS of every process every `interval` seconds (psutil), keeping the peaks."""

    def __init__(self, system: System, interval: float = 0.2) -> None:
        self.system = system
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.system.sample_memory()
            await asyncio.sleep(self.interval)

    def __enter__(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def run_system(system: System, options: Options) -> dict[str, Any]:
    began = time.monotonic()
    await asyncio.to_thread(system.start)
    startup_s = time.monotonic() - began
    receiver = Receiver()
    http = driver.client(max(64, options.concurrency * 2))
    try:
        await asyncio.sleep(1.0)  # settle, then idle memory before any lead
        idle = {name: round(p.rss() / MB, 1) for name, p in system.procs.items()}
        receiver.secret = await configure(system.urls, await receiver.start())
        ingest = system.urls["ingest"]
        workload = Workload(run=uuid.uuid4().hex[:6])
        sends: list[Sent] = []
        phases: dict[str, Any] = {}
        with Sampler(system):
            if options.warmup > 0:
                await driver.fixed_rate(
                    http, ingest, workload, min(options.rate, 50.0), options.warmup, "warmup", sends
                )
                await drain(receiver, sends, options.drain_timeout)
            rates = {"steady": options.steady_rate, "fixed": options.rate}
            for phase in ("steady", "fixed", "max"):
                if phase == "steady" and options.steady_rate <= 0:
                    continue
                before, started = await Usage.now(system), time.monotonic()
                if phase in rates:
                    await driver.fixed_rate(
                        http, ingest, workload, rates[phase], options.duration, phase, sends
                    )
                else:
                    await driver.max_rate(
                        http,
                        ingest,
                        workload,
                        options.concurrency,
                        options.max_duration,
                        phase,
                        sends,
                    )
                await drain(receiver, sends, options.drain_timeout)
                used = (await Usage.now(system)).since(before)
                phases[phase] = phase_result(phase, sends, receiver, used, started)
            await asyncio.sleep(0.5)  # a duplicate assignment would arrive now
        for phase, rate in rates.items():
            if phase in phases:
                phases[phase]["rate"] = rate
        phases["max"]["concurrency"] = options.concurrency
        checks = integrity(receiver, sends)
        per_person = Counter(s.delivery.person.key for s in sends if s.accepted)
        mixed = sorted(k for k, n in per_person.items() if n > 1)[: options.verify_sample]
        counts = await leads_of(ingest, mixed)
        checks["ingest_checked_people"] = len(counts)
        checks["ingest_people_without_one_lead"] = sum(1 for n in counts.values() if n != 1)
        mix = Counter(s.delivery.provider for s in sends)
        return {
            "runtime": system.runtime,
            "startup_s": round(startup_s, 1),
            "processes": {
                name: {"idle_rss_mb": idle[name], "peak_rss_mb": round(p.peak_rss / MB, 1)}
                for name, p in system.procs.items()
            },
            "phases": phases,
            "checks": checks,
            "webhooks_by_provider": dict(mix),
        }
    finally:
        await http.close()
        await receiver.stop()
        await asyncio.to_thread(system.stop)


async def max_rate_alone(proc: Proc, base: str, options: Options, run: str) -> dict[str, Any]:
    """The max-rate phase against one process that does nothing else: accepted answers
    per second, HTTP latency and the process's CPU per request."""
    http = driver.client(max(64, options.concurrency * 2))
    try:
        idle = proc.rss()
        sends: list[Sent] = []
        workload = Workload(run=run)
        await driver.max_rate(
            http, base, workload, options.concurrency, options.warmup, "warmup", sends
        )
        cpu0 = proc.cpu_seconds()
        await driver.max_rate(
            http, base, workload, options.concurrency, options.max_duration, "max", sends
        )
        proc.rss()
        mine = [s for s in sends if s.phase == "max"]
        accepted = [s for s in mine if s.accepted]
        span = max(s.answered for s in mine) - min(s.intended for s in mine)
        return {
            "accepted_per_s": round(len(accepted) / span, 1),
            "rejected_by_status": driver.rejections(mine),
            "http_latency_ms": latency_of([s.answered - s.intended for s in accepted]),
            "cpu_ms_per_request": round(
                (proc.cpu_seconds() - cpu0) * 1000 / max(1, len(accepted)), 3
            ),
            "idle_rss_mb": round(idle / MB, 1),
            "peak_rss_mb": round(proc.peak_rss / MB, 1),
            "concurrency": options.concurrency,
        }
    finally:
        await http.close()


async def run_bare(options: Options, workdir: Any) -> dict[str, Any]:
    """The HTTP ceiling: the same driver against a bare 202 endpoint."""
    from bench.ceilings import bare_command

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = Proc("bare", bare_command(port), {}, workdir / "bare.log")
    try:
        await asyncio.to_thread(proc.wait_ready, base)
        return await max_rate_alone(proc, base, options, "bare")
    finally:
        await asyncio.to_thread(proc.stop)


async def run_durable_floor(
    options: Options, workdir: Any, server_url: str, kafka: str, partitions: int
) -> dict[str, Any]:
    """The durable floor (bench/durable.py) in a scratch database and topic: the max-rate
    phase, then how long its relay took to empty the outbox after the last answer."""
    import asyncpg
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from bench.ceilings import durable_command
    from bench.systems import delete_topics, drop_database, pg_execute

    name = f"leadfarm_bench_floor_{uuid.uuid4().hex[:10]}"
    namespace = f"benchfloor{uuid.uuid4().hex[:8]}"
    topic = f"{namespace}.webhooks"
    database = urlparse(server_url)._replace(scheme="postgresql", path=f"/{name}").geturl()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc: Proc | None = None
    await pg_execute(server_url, f'CREATE DATABASE "{name}"')
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        finally:
            await admin.close()
        proc = Proc(
            "durable", durable_command(port, database, kafka, topic), {}, workdir / "durable.log"
        )
        await asyncio.to_thread(proc.wait_ready, base)
        result = await max_rate_alone(proc, base, options, "floor")
        answered = time.monotonic()
        conn = await asyncpg.connect(database)
        try:
            left = -1
            while time.monotonic() - answered < options.drain_timeout:
                left = await conn.fetchval("SELECT count(*) FROM floor_outbox")
                if left == 0:
                    break
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        result["outbox_left"] = left
        result["relay_drained_after_s"] = round(time.monotonic() - answered, 2)
        return result
    finally:
        if proc is not None:
            await asyncio.to_thread(proc.stop)
        await drop_database(server_url, name)
        await delete_topics(kafka, namespace)


async def run_ingest_alone(system: System, options: Options) -> dict[str, Any]:
    """The ingest endpoint by itself: one `leadfarm serve ingest` (verifying, normalising,
    deduplicating, storing and relaying to Kafka) and no other service, so the webhook
    path does not share the cores with the pipeline behind it."""
    await asyncio.to_thread(system.start)
    try:
        await configure_sources(system.urls["ingest"])
        return await max_rate_alone(system.procs["ingest"], system.urls["ingest"], options, "solo")
    finally:
        await asyncio.to_thread(system.stop)
