"""The fault suite: the cluster (each service its own `leadfarm serve` process, on a Kafka
broker and a PostgreSQL server of the suite's own) keeps every lead while faults happen.

While a steady stream of leads flows in over HTTP, in order: kill -9 each of the five
services and restart it at once (as a supervisor would), restart the broker, restart
PostgreSQL, and start a second replica of qualifier and router (a consumer-group
rebalance). After the stream drains: every accepted lead has exactly one current
assignment or its recorded terminal state (nurture enrolment), no lead exists twice, no lead
was assigned twice, every timeline is complete, nothing was dead-lettered. The recovery
time of each fault is printed and written to `$LEADFARM_FAULT_REPORT` (JSON) when set; see
docs/reliability.md.

Knobs (environment): LEADFARM_FAULT_LEADS (2,000), LEADFARM_FAULT_RATE (leads/s, 12),
LEADFARM_FAULT_SPACING (s between faults, 12).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.topics import SERVICES
from tests.backends import ADMIN, ADMIN_KEY
from tests.e2e.processes import LEADFARM, Process, free_port, wait_for
from tests.fault.conftest import FaultInfra
from tests.infra import run_async
from tests.integration.test_flow import LONG_TERM, SALES_READY

pytestmark = [pytest.mark.fault, pytest.mark.timeout(600)]

LEADS = int(os.environ.get("LEADFARM_FAULT_LEADS", "2000"))
RATE = float(os.environ.get("LEADFARM_FAULT_RATE", "12"))
SPACING = float(os.environ.get("LEADFARM_FAULT_SPACING", "12"))
GAP = 3.0  # at least this long between one fault's action ending and the next fault
DRAIN_TIMEOUT = 150.0

RECEIVED = "leadfarm.lead.received.v1"
CAPTURED = "leadfarm.lead.captured.v1"
QUALIFIED = "leadfarm.lead.qualified.v1"
DEFERRED = "leadfarm.lead.deferred.v1"
ASSIGNED = "leadfarm.lead.assigned.v1"
ENROLLED = "leadfarm.nurture.enrolled.v1"
# The story each kind of lead must tell, in this order of event time.
STORY = {
    "ready": [RECEIVED, CAPTURED, QUALIFIED, ASSIGNED],
    "later": [RECEIVED, CAPTURED, DEFERRED, ENROLLED],
}
# A kill of router only delays sales-ready leads, of nurture only long-term ones.
KINDS = {"router": ("ready",), "nurture": ("later",)}
# Events that would mean a lead was handled twice or lost its way.
NEVER = ["leadfarm.lead.merged.v1", "leadfarm.lead.reassigned.v1", "leadfarm.lead.queued.v1"]


# --- the cluster as processes ------------------------------------------------------------


class Cluster:
    def __init__(self, infra: FaultInfra, logs: Path) -> None:
        self.logs = logs
        self.env = {
            "LEADFARM_DATABASE_URL": infra.url,
            "LEADFARM_KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "LEADFARM_TOPIC_NAMESPACE": f"fault{uuid.uuid4().hex[:8]}",
            "LEADFARM_TOPIC_PARTITIONS": "4",
            "LEADFARM_ADMIN_KEY": ADMIN_KEY,
            "LEADFARM_LOG_LEVEL": "WARNING",
            # `leadfarm migrate` and `topics create` ran first: a restart only starts.
            "LEADFARM_MIGRATE_ON_START": "false",
            "LEADFARM_CREATE_TOPICS": "false",
            # No SLA may fire during the run: a re-assignment after a missed first touch is
            # legitimate, and would blur "no lead was assigned twice".
            "LEADFARM_ROUTER_FIRST_TOUCH_MINUTES": "100000",
        }
        self.ports: dict[str, int] = {s: free_port() for s in SERVICES}
        self.processes: dict[str, list[Process]] = defaultdict(list)
        self.starts = 0

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def operator(self, *args: str) -> None:
        import subprocess

        env = {**{k: v for k, v in os.environ.items() if not k.startswith("LEADFARM_")}}
        result = subprocess.run(
            [LEADFARM, *args], env={**env, **self.env}, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self, service: str, port: int | None = None) -> Process:
        self.starts += 1
        port = port or self.ports[service]
        log = self.logs / f"{service}.{self.starts}.log"
        process = Process(["serve", service, "--port", str(port)], self.env, log)
        self.processes[service].append(process)
        return process

    def kill9_and_restart(self, service: str) -> float:
        """SIGKILL the service's process, start a new one; returns its restart time."""
        old = self.processes[service][0]  # replicas come last; the first is the original
        old.proc.send_signal(signal.SIGKILL)
        old.proc.wait()
        old.terminate()  # already dead: only closes its log
        self.processes[service].remove(old)
        started = time.monotonic()
        new = self.start(service)
        new.wait_ready(self.url(service), timeout=90)
        return time.monotonic() - started

    def add_replica(self, service: str) -> float:
        port = free_port()
        started = time.monotonic()
        process = self.start(service, port)
        process.wait_ready(f"http://127.0.0.1:{port}", timeout=90)
        return time.monotonic() - started

    def stop(self) -> None:
        for processes in self.processes.values():
            for process in processes:
                if process.proc.poll() is None:
                    process.proc.send_signal(signal.SIGKILL)
                    process.proc.wait()
                process.terminate()  # already dead: only closes its log


# --- the load driver -----------------------------------------------------------------------


@dataclass
class Posted:
    index: int
    kind: str  # "ready" or "later"
    lead_id: str
    accepted_at: float  # wall clock (epoch seconds) of the 202
    attempts: int
    ambiguous_retry: bool  # a retry after a failure where the first post may have landed


@dataclass
class Driver:
    """Posts leads at a steady rate until told to stop, and at least `total` of them."""

    ingest_url: str
    total: int
    rate: float
    stop: threading.Event = field(default_factory=threading.Event)
    posted: list[Posted] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def lead(self, index: int) -> tuple[str, dict[str, Any]]:
        """A distinct person per post: alternately sales-ready and long-term."""
        if index % 2 == 0:
            body = {
                **SALES_READY,
                "email": f"dana.{index}@acme{index}.example",
                "phone": f"030 {1000000 + index}",
                "first_name": f"Dana{index}",
            }
            return "ready", body
        return "later", {**LONG_TERM, "email": f"sam.{index}@beta{index}.example"}

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.done.set()

    def _run(self) -> None:
        started = time.monotonic()
        with httpx.Client(headers=ADMIN, timeout=5) as http:
            index = 0
            while index < self.total or not self.stop.is_set():
                delay = started + index / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.posted.append(self._post(http, index))
                index += 1

    def _post(self, http: httpx.Client, index: int) -> Posted:
        kind, body = self.lead(index)
        headers = {"Idempotency-Key": f"fault-{index}"}
        ambiguous = False
        deadline = time.monotonic() + 120
        for attempt in range(1, 10_000):
            try:
                response = http.post(
                    f"{self.ingest_url}/ingest/v1/leads", json=body, headers=headers
                )
            except httpx.ConnectError:
                self.refused["connect"] += 1  # never reached ingest: certainly not stored
            except httpx.HTTPError as exc:
                # Sent, then no answer (ingest killed mid-request): it may have been stored.
                self.refused[type(exc).__name__] += 1
                ambiguous = True
            else:
                if response.status_code == 202:
                    return Posted(
                        index,
                        kind,
                        response.json()["lead_id"],
                        time.time(),
                        attempt,
                        ambiguous and attempt > 1,
                    )
                assert response.status_code >= 500 or response.status_code == 429, (
                    f"lead {index} refused: {response.status_code} {response.text}"
                )
                self.refused[str(response.status_code)] += 1
            assert time.monotonic() < deadline, f"lead {index} not accepted within 120 s"
            time.sleep(0.1)
        raise AssertionError("unreachable")


# --- the checks (read-only SQL on the suite's scratch database) ---------------------------


async def _query(dsn: str, sql: str) -> list[dict[str, Any]]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def query(infra: FaultInfra, sql: str) -> list[dict[str, Any]]:
    return run_async(_query(infra.dsn, sql))


def completed_at(infra: FaultInfra) -> dict[str, float]:
    """Each finished lead's completion: when audit archived its terminal event."""
    rows = query(
        infra,
        f"SELECT lead_id, min(recorded_at) AS at FROM audit.audit_events "
        f"WHERE type IN ('{ASSIGNED}', '{ENROLLED}') GROUP BY lead_id",
    )
    return {r["lead_id"]: r["at"].timestamp() for r in rows}


@dataclass
class Fault:
    name: str
    kinds: tuple[str, ...]  # the leads whose path crosses the fault
    at: float  # wall clock
    duration: float  # how long the fault action itself took (restart until ready)


def recovery(
    fault: Fault,
    posted: list[Posted],
    done: dict[str, float],
    normal: float,
    next_at: float,
    started: float,
) -> dict[str, Any]:
    """First: from the fault to the first lead accepted after it being complete.
    Normal: from the fault until a lead accepted after it completes within the normal
    end-to-end latency again (so the backlog the fault built is gone)."""
    after = sorted(
        (p for p in posted if p.accepted_at >= fault.at and p.kind in fault.kinds),
        key=lambda p: p.accepted_at,
    )
    first = min((done[p.lead_id] for p in after if p.lead_id in done), default=None)
    back = next((done[p.lead_id] for p in after if done[p.lead_id] - p.accepted_at <= normal), None)
    return {
        "fault": fault.name,
        "at_s": round(fault.at - started, 1),
        "action_s": round(fault.duration, 1),
        "first_lead_s": None if first is None else round(first - fault.at, 1),
        "latency_normal_s": None if back is None else round(back - fault.at, 1),
        "overlaps_next": back is None or back > next_at,
    }


# --- the test -------------------------------------------------------------------------------


def test_every_lead_survives_the_faults(fault_infra: FaultInfra, tmp_path: Path) -> None:
    wall_started = time.monotonic()
    cluster = Cluster(fault_infra, tmp_path)
    cluster.operator("migrate")
    cluster.operator("topics", "create")
    try:
        for service in SERVICES:
            cluster.start(service)
        for service in SERVICES:
            cluster.processes[service][0].wait_ready(cluster.url(service), timeout=120)
        with httpx.Client(headers=ADMIN, timeout=10) as http:
            for rep in ("ana", "bo", "cy"):
                r = http.post(
                    f"{cluster.url('router')}/router/v1/reps",
                    json={"id": rep, "name": rep.title(), "email": f"{rep}@example.com"},
                )
                assert r.status_code == 201, r.text
            check_a_retried_post_is_one_lead(http, cluster)

        driver = Driver(cluster.url("ingest"), LEADS, RATE)
        thread = threading.Thread(target=driver.run, daemon=True)
        thread.start()
        faults: list[Fault] = []
        both = ("ready", "later")
        plan: list[tuple[str, tuple[str, ...], Callable[[], float]]] = [
            *[
                (f"kill -9 {s}", KINDS.get(s, both), (lambda s=s: cluster.kill9_and_restart(s)))
                for s in SERVICES
            ],
            ("restart Kafka broker", both, lambda: timed(lambda: fault_infra.kafka_sh("restart"))),
            ("restart PostgreSQL", both, lambda: timed(lambda: fault_infra.postgres_sh("restart"))),
            (
                "2nd replica of qualifier and router",
                both,
                lambda: max(cluster.add_replica("qualifier"), cluster.add_replica("router")),
            ),
        ]
        stream_started, stream_started_wall = time.monotonic(), time.time()
        ready_for_next = stream_started
        for number, (name, kinds, act) in enumerate(plan, start=1):
            wait_until(max(stream_started + number * SPACING, ready_for_next))
            at = time.time()
            faults.append(Fault(name, kinds, at, act()))
            ready_for_next = time.monotonic() + GAP
        wait_until(ready_for_next + SPACING)  # leads keep flowing through the last recovery
        driver.stop.set()
        thread.join(timeout=LEADS / RATE + 300)
        if driver.error is not None:
            raise driver.error
        assert len(driver.posted) >= LEADS
        stream_s = time.monotonic() - stream_started

        accepted = {p.lead_id: p for p in driver.posted}

        def drained() -> bool:
            return len(accepted.keys() & completed_at(fault_infra).keys()) == len(accepted)

        try:
            wait_for(drained, timeout=DRAIN_TIMEOUT, interval=1.0)
        except AssertionError:
            missing = accepted.keys() - completed_at(fault_infra).keys()
            raise AssertionError(f"{len(missing)} accepted leads never completed") from None

        done = completed_at(fault_infra)
        check_invariants(fault_infra, driver, accepted)
        with httpx.Client(headers=ADMIN, timeout=10) as http:
            for posted in driver.posted[:: max(1, LEADS // 20)]:
                check_timeline_api(http, cluster, posted)

        latencies = sorted(done[p.lead_id] - p.accepted_at for p in driver.posted)
        before = [
            done[p.lead_id] - p.accepted_at
            for p in driver.posted
            if p.accepted_at < faults[0].at - 1
        ]
        baseline = sorted(before)[int(len(before) * 0.95)] if before else 1.0
        normal = max(2 * baseline, 1.0)
        nexts = [f.at for f in faults[1:]] + [float("inf")]
        table = [
            recovery(f, driver.posted, done, normal, n, stream_started_wall)
            for f, n in zip(faults, nexts, strict=True)
        ]
        report = {
            "leads": len(driver.posted),
            "rate_per_s": RATE,
            "stream_s": round(stream_s, 1),
            "baseline_p95_latency_s": round(baseline, 2),
            "normal_latency_threshold_s": round(normal, 2),
            "max_latency_s": round(latencies[-1], 1),
            "refused_posts": dict(driver.refused),
            "ambiguous_retries": sum(p.ambiguous_retry for p in driver.posted),
            "recoveries": table,
            "wall_s": round(time.monotonic() - wall_started, 1),
        }
        print(json.dumps(report, indent=2))
        if out := os.environ.get("LEADFARM_FAULT_REPORT"):
            Path(out).write_text(json.dumps(report, indent=2))
    finally:
        cluster.stop()


def timed(action: Callable[[], None]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def check_a_retried_post_is_one_lead(http: httpx.Client, cluster: Cluster) -> None:
    """A sender that got no answer posts again with the same key: the first answer, not a
    second lead (what the driver relies on when ingest dies mid-request)."""
    body = {**LONG_TERM, "email": "retry@gamma.example"}
    headers = {"Idempotency-Key": "fault-retry"}
    url = f"{cluster.url('ingest')}/ingest/v1/leads"
    first = http.post(url, json=body, headers=headers)
    again = http.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 202, again.text
    assert first.json() == again.json()


def check_invariants(infra: FaultInfra, driver: Driver, accepted: dict[str, Posted]) -> None:
    check_stored(lambda sql: query(infra, sql), lambda s, t: f"{s}.{t}", driver, accepted)


Query = Callable[[str], list[dict[str, Any]]]
"""Read-only SQL on the run's database."""


def check_stored(
    query: Query, table: Callable[[str, str], str], driver: Driver, accepted: dict[str, Posted]
) -> None:
    """The invariants, on either runtime's database: `table(service, name)` names a
    service's table (a schema per service on PostgreSQL, one SQLite file embedded)."""
    ids = set(accepted)
    assert len(ids) == len(driver.posted), (
        "two posts of distinct people answered with the same lead"
    )

    # No lead exists twice: ingest holds exactly the accepted leads (plus the retry probe's).
    leads = query(f"SELECT id, email FROM {table('ingest', 'ingest_leads')}")
    stored = {r["id"] for r in leads} - {
        r["id"] for r in leads if r["email"] == "retry@gamma.example"
    }
    assert stored == ids
    emails = Counter(r["email"] for r in leads)
    assert emails.most_common(1)[0][1] == 1

    # Every lead's story, once each, in order; nothing that means "handled twice".
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    order: dict[str, list[str]] = defaultdict(list)
    for row in query(
        f"SELECT lead_id, type FROM {table('audit', 'audit_events')} "
        "WHERE source <> '/leadfarm/audit' ORDER BY lead_id, time, position"
    ):
        counts[row["lead_id"]][row["type"]] += 1
        order[row["lead_id"]].append(row["type"])
    problems = []
    for lead_id, posted in accepted.items():
        story = STORY[posted.kind]
        seen = counts[lead_id]
        if any(seen[t] != 1 for t in story) or any(seen[t] for t in NEVER):
            problems.append(f"{posted.kind} {lead_id}: {dict(seen)}")
        elif [t for t in order[lead_id] if t in story] != story:
            problems.append(f"{posted.kind} {lead_id} out of order: {order[lead_id]}")
    assert not problems, f"{len(problems)} leads with a wrong timeline: {problems[:10]}"

    # Exactly one current assignment per sales-ready lead, none for the others; never two.
    assignments = {
        r["lead_id"]: r
        for r in query(
            "SELECT lead_id, count(*) AS total, count(*) FILTER (WHERE ended_at IS NULL) "
            f"AS current FROM {table('router', 'router_assignments')} GROUP BY lead_id"
        )
    }
    for lead_id, posted in accepted.items():
        got = assignments.get(lead_id)
        if posted.kind == "ready":
            assert got is not None, lead_id
            assert (got["total"], got["current"]) == (1, 1), (lead_id, got)
        else:
            assert got is None, (lead_id, got)
    statuses = {
        r["lead_id"]: r["status"]
        for r in query(f"SELECT lead_id, status FROM {table('router', 'router_leads')}")
    }
    ready = [lead_id for lead_id, p in accepted.items() if p.kind == "ready"]
    assert Counter(statuses.get(lead_id) for lead_id in ready) == {"assigned": len(ready)}

    # The long-term leads' recorded terminal state: one nurture enrolment each.
    enrolments = Counter(
        r["lead_id"] for r in query(f"SELECT lead_id FROM {table('nurture', 'nurture_enrolments')}")
    )
    later = [lead_id for lead_id, p in accepted.items() if p.kind == "later"]
    assert Counter(enrolments[lead_id] for lead_id in later) == {1: len(later)}

    # Nothing was dead-lettered: the faults were infrastructure's, never the messages'.
    for service in SERVICES:
        rows = query(
            f"SELECT count(*) AS n FROM {table(service, 'outbox')} "
            f"WHERE service = '{service}' AND topic LIKE '%.dlq'"
        )
        assert rows[0]["n"] == 0, f"{service} dead-lettered {rows[0]['n']} messages"


def check_timeline_api(http: httpx.Client, cluster: Cluster, posted: Posted) -> None:
    r = http.get(f"{cluster.url('audit')}/audit/v1/leads/{posted.lead_id}/timeline")
    assert r.status_code == 200, r.text
    types = [e["type"] for e in r.json()["events"] if e["source"] != "/leadfarm/audit"]
    assert [t for t in types if t in STORY[posted.kind]] == STORY[posted.kind], types
