"""Leadfarm started as real processes, the way an operator starts it, and watched with
psutil: `leadfarm up` (embedded, one process) or a `leadfarm serve <service>` process per
service on Kafka + PostgreSQL, each run in a fresh database and topic namespace."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psutil

from contracts.topics import SERVICES, ServiceName

LEADFARM = str(Path(sys.executable).parent / "leadfarm")
ADMIN_KEY = "bench-admin-key-" + uuid.uuid4().hex
DEFAULT_DATABASE = "postgresql://leadfarm:leadfarm@127.0.0.1:5432/leadfarm"
DEFAULT_KAFKA = "127.0.0.1:9092"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
"""Where a server is this machine's, so its processes' CPU can be read."""
# The benchmark drives far more than the per-source webhook rate limit (20/s) allows; an
# operator expecting such volume raises it the same way.
BENCH_ENV = {
    "LEADFARM_ADMIN_KEY": ADMIN_KEY,
    "LEADFARM_LOG_LEVEL": "WARNING",
    "LEADFARM_INGEST_RATE_LIMIT_PER_SECOND": "1000000",
    "LEADFARM_INGEST_RATE_LIMIT_BURST": "1000000",
    # The rep's tool is the bench's own receiver, on 127.0.0.1.
    "LEADFARM_ROUTER_ALLOW_PRIVATE_WEBHOOK_URLS": "true",
    # Nobody touches the benchmark's leads: without these, first-touch SLAs (5 business
    # minutes) fall due during a slow run, the reps are suspended for compliance and the
    # remaining leads go to the fallback queue instead of to a rep. Ten business hours is
    # at least ten real hours, far beyond any run; the 100,000 minutes set before (ten months
    # of business days) made every routing decision walk a rep's calendar day by day through
    # those months, a twentieth of the router's CPU that no real SLA costs.
    "LEADFARM_ROUTER_FIRST_TOUCH_MINUTES": "600",
    "LEADFARM_ROUTER_REASSIGN_ON_MISSED_FIRST_TOUCH": "false",
    "LEADFARM_ROUTER_COMPLIANCE_MIN_OBLIGATIONS": "1000000000",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """One child process, its log, and its resource use."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out = log.open("wb")
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADFARM_")}
        self.popen = subprocess.Popen(  # noqa: S603 - our own command lines
            list(command), env={**clean, **env}, stdout=self._out, stderr=subprocess.STDOUT
        )
        self.ps = psutil.Process(self.popen.pid)
        self.peak_rss = 0

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def rss(self) -> int:
        try:
            value = int(self.ps.memory_info().rss)
        except psutil.Error:
            return 0
        self.peak_rss = max(self.peak_rss, value)
        return value

    def cpu_seconds(self) -> float:
        try:
            times = self.ps.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    def wait_ready(self, base_url: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.output()[-3000:]}"
                )
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._out.close()


def run_command(args: Sequence[str], env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADFARM_")}
    done = subprocess.run(  # noqa: S603 - the leadfarm command next to this Python
        [LEADFARM, *args], env={**clean, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"leadfarm {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class System(ABC):
    """A running Leadfarm: the base URL of each service and its processes."""

    runtime: str
    urls: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="leadfarm-bench-")))

    def start(self) -> None:
        """Start the processes and wait until each answers `/readyz`. If one does not, stop
        those that did (and drop what the start made) before raising: a failed start must
        not leave processes running, and using the CPU, under the next measurement."""
        try:
            self._start()
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise

    @abstractmethod
    def _start(self) -> None:
        """Start the processes and wait until each answers `/readyz`."""

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    def cpu_seconds(self) -> float:
        return sum(p.cpu_seconds() for p in self.procs.values())

    def cpu_seconds_by_process(self) -> dict[str, float]:
        return {name: p.cpu_seconds() for name, p in self.procs.items()}

    def server_cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far of the servers this Leadfarm runs on (none when embedded)."""
        return {}

    async def statements(self) -> dict[str, float]:
        """SQL statements run so far, by the service they ran for (each process's
        `leadfarm_db_statements_total`; `chassis` is the embedded bus's own reads)."""
        from prometheus_client.parser import text_string_to_metric_families

        totals: dict[str, float] = {}
        async with httpx.AsyncClient(timeout=10) as http:
            for url in sorted(set(self.urls.values())):
                text = (await http.get(f"{url}/metrics")).text
                for family in text_string_to_metric_families(text):
                    if family.name != "leadfarm_db_statements":
                        continue
                    for sample in family.samples:
                        if sample.name.endswith("_total"):
                            owner = sample.labels["service"]
                            totals[owner] = totals.get(owner, 0.0) + sample.value
        return totals

    def sample_memory(self) -> None:
        for proc in self.procs.values():
            proc.rss()


class Embedded(System):
    def __init__(self) -> None:
        super().__init__("embedded")

    def _start(self) -> None:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        data = self.workdir / "data"
        proc = Proc(
            "leadfarm up",
            [LEADFARM, "up", "--data-dir", str(data), "--port", str(port)],
            BENCH_ENV,
            self.workdir / "up.log",
        )
        self.procs["all-in-one"] = proc
        self.urls = dict.fromkeys(SERVICES, base)
        proc.wait_ready(base)

    def stop(self) -> None:
        """Stop the process and delete its data directory (hundreds of MB a run; the
        cluster drops its scratch database likewise); its log stays in the workdir."""
        super().stop()
        shutil.rmtree(self.workdir / "data", ignore_errors=True)


class Cluster(System):
    """Five `leadfarm serve` processes. Without `database_url` a fresh database is created
    on the server of `server_url` (and dropped afterwards); the topics of a fresh
    namespace are created first and deleted afterwards."""

    def __init__(
        self,
        server_url: str = DEFAULT_DATABASE,
        kafka: str = DEFAULT_KAFKA,
        *,
        database_url: str | None = None,
        namespace: str | None = None,
        partitions: int = 6,
        services: Sequence[ServiceName] = SERVICES,
    ) -> None:
        super().__init__("cluster")
        self.services = tuple(services)
        self.server_url = server_url
        self.kafka = kafka
        self.partitions = partitions
        self.namespace = namespace or f"bench{uuid.uuid4().hex[:10]}"
        self.given_database = database_url
        self.database_name: str | None = None
        self.database_url = database_url or ""

    def _env(self) -> dict[str, str]:
        return {
            **BENCH_ENV,
            "LEADFARM_DATABASE_URL": self.database_url,
            "LEADFARM_KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "LEADFARM_TOPIC_NAMESPACE": self.namespace,
            "LEADFARM_TOPIC_PARTITIONS": str(self.partitions),
            "LEADFARM_CREATE_TOPICS": "false",
            "LEADFARM_MIGRATE_ON_START": "false",
        }

    def server_cpu_seconds(self) -> dict[str, float]:
        """PostgreSQL's and Kafka's CPU seconds so far, when they run on this machine (the
        benchmark's own, from deploy/local/provision.sh): what the services' statements and
        records cost where they run."""
        hosts = {urlparse(self.server_url).hostname, self.kafka.rpartition(":")[0]}
        if not hosts <= LOCAL_HOSTS:
            return {}
        return local_server_cpu_seconds()

    def _start(self) -> None:
        if self.given_database is None:
            self.database_name = f"leadfarm_bench_{uuid.uuid4().hex[:10]}"
            asyncio.run(pg_execute(self.server_url, f'CREATE DATABASE "{self.database_name}"'))
            base = urlparse(self.server_url)
            self.database_url = base._replace(
                scheme="postgresql+asyncpg", path=f"/{self.database_name}"
            ).geturl()
            run_command(["migrate"], self._env())
        run_command(["topics", "create", "--partitions", str(self.partitions)], self._env())
        ports = {s: free_port() for s in self.services}
        for service in self.services:
            self.procs[str(service)] = Proc(
                service,
                [LEADFARM, "serve", service, "--port", str(ports[service])],
                self._env(),
                self.workdir / f"{service}.log",
            )
            self.urls[service] = f"http://127.0.0.1:{ports[service]}"
        for name, proc in self.procs.items():
            proc.wait_ready(self.urls[name])

    def stop(self) -> None:
        super().stop()
        asyncio.run(delete_topics(self.kafka, self.namespace))
        if self.database_name:
            asyncio.run(drop_database(self.server_url, self.database_name))


async def drop_database(server_url: str, name: str, attempts: int = 20) -> None:
    """Drop a scratch database, its connections too. PostgreSQL 15's `WITH (FORCE)` refuses
    while an autovacuum worker is in it ("must be a member of the role whose process is
    being terminated"): that worker is soon done, so the drop is tried again."""
    import asyncpg

    for attempt in range(attempts):
        try:
            await pg_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except asyncpg.InsufficientPrivilegeError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.25)


async def pg_execute(server_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def delete_topics(bootstrap: str, namespace: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.split(".", 1)[0] == namespace]
        if topics:
            await admin.delete_topics(topics)
        return len(topics)
    finally:
        await admin.close()


async def postgres_version(server_url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def kafka_version() -> str:
    """The local broker's version from its command line (kafka-3.9.1/libs), when it runs
    on this machine; the wire protocol does not say."""
    import re

    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if "kafka.Kafka" in cmdline:
            found = re.search(r"kafka[_-](?:\d+\.\d+-)?(\d+\.\d+\.\d+)", cmdline)
            if found:
                return found.group(1)
    return "unknown (not a local process)"


def local_server_cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of this machine's PostgreSQL processes and Kafka broker, found by
    name (a backend that has exited is no longer counted: the services keep theirs open)."""
    totals = {"postgres": 0.0, "kafka": 0.0}
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            name = proc.info["name"] or ""
            if name == "postgres" or name.startswith("postgres:"):
                server = "postgres"
            elif name == "java" and "kafka.Kafka" in (proc.info["cmdline"] or ()):
                server = "kafka"
            else:
                continue
            times = proc.cpu_times()
            totals[server] += times.user + times.system
        except psutil.Error:
            continue
    return totals


def machine_busy_seconds() -> float:
    """CPU seconds this machine's cores have spent running anything, so far (user, nice,
    system and interrupts; not idle, I/O wait or time the hypervisor took)."""
    times = psutil.cpu_times()
    busy = times.user + times.nice + times.system
    return float(busy + getattr(times, "irq", 0.0) + getattr(times, "softirq", 0.0))
