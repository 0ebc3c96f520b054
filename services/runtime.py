"""The two runtimes, one code path.

`embedded_runtime` runs all five services in one process on one SQLite file, where the
outbox is the event log (`EmbeddedBus`). `cluster_runtime` runs one service against Kafka
and PostgreSQL, with an outbox relay. Both build each service from the same composition
root and run the same handlers through the same consumer runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, Literal

from contracts.topics import SERVICES, ServiceName, all_topics
from services import metrics
from services.auth import KeyStore
from services.bus.base import Bus
from services.bus.embedded import EmbeddedBus
from services.bus.kafka import KafkaBus, create_topics
from services.bus.retention import LogRetention
from services.checkpoints import WalCheckpointer
from services.clock import Clock, SystemClock
from services.consumer import ConsumerRunner
from services.db import Database, UnitOfWork
from services.migrate import upgrade
from services.outbox import OutboxRelay, Publisher
from services.settings import Settings
from services.spec import ServiceBuilder, ServiceSpec
from services.timers import TimerRunner

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0
"""The first wait before a background task that stopped unexpectedly is restarted; it
doubles with each failure in a row, up to MAX_RESTART_DELAY_S."""
MAX_RESTART_DELAY_S = 30.0
STABLE_AFTER_S = 5.0
"""A restarted task counts as up again (and /readyz as ready) once it has run this long."""


def builder_of(service: ServiceName) -> ServiceBuilder:
    """A service's composition root: `<service>.build`."""
    module = importlib.import_module(service)
    builder: ServiceBuilder = module.build
    return builder


@dataclass
class Runtime:
    mode: Literal["embedded", "cluster"]
    settings: Settings
    clock: Clock
    database: Database
    bus: Bus
    publisher: Publisher | None
    units: dict[ServiceName, UnitOfWork]
    specs: list[ServiceSpec]
    key_store: KeyStore
    ready: bool = False
    consumers: list[ConsumerRunner] = field(default_factory=list)
    relays: list[OutboxRelay] = field(default_factory=list)
    timer_runners: dict[ServiceName, TimerRunner] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    """Each background task's current incarnation, by name."""
    _down: dict[str, str] = field(default_factory=dict)
    """Background tasks that stopped unexpectedly and are not yet running stably again."""
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    stopped_cleanly: bool = True
    """False when shutdown had to cancel work still running after the shutdown timeout."""
    _lock: IO[str] | None = None
    checkpointer: WalCheckpointer | None = None
    log_retention: LogRetention | None = None

    async def start(self) -> None:
        settings = self.settings
        self._stopping.clear()
        if self.database.is_sqlite:
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.mode == "embedded" and self._lock is None:
            self.hold_data_dir()
        if settings.migrate_on_start:
            await upgrade(
                self.database,
                {s.name: s.migrations for s in self.specs if s.migrations is not None},
            )
        for spec in self.specs:
            for step in spec.on_start:
                await step()
        if isinstance(self.bus, KafkaBus) and settings.create_topics:
            await create_topics(
                settings.kafka_bootstrap_servers,
                all_topics(settings.topic_namespace),
                settings.topic_partitions,
                settings.topic_replication_factor,
            )
        await self.bus.start()
        namespace = settings.topic_namespace
        for spec in self.specs:
            unit = self.units[spec.name]
            if self.publisher is not None:
                relay = OutboxRelay(
                    unit,
                    self.publisher,
                    batch_size=settings.relay_batch_size,
                    poll_interval_s=settings.relay_poll_interval_s,
                )
                self.database.on_events_committed(relay.on_events_committed)
                self.relays.append(relay)
                self._spawn(relay.run, f"relay-{spec.name}")
            if spec.event_types():
                runner = ConsumerRunner(
                    unit,
                    self.bus.subscribe(spec.group(namespace), spec.topics(namespace)),
                    spec.handlers,
                    batch_handlers=spec.batch_handlers,
                    group=spec.group(namespace),
                    max_attempts=settings.consumer_max_attempts,
                    retry_backoff_s=settings.consumer_retry_backoff_s,
                    batch_size=settings.consumer_batch_size,
                    any_topic=spec.any_topic,
                    linger_s=spec.batch_linger_s,
                    inbox_retention=timedelta(days=settings.inbox_retention_days),
                )
                self.consumers.append(runner)
                self._spawn(runner.run, f"consumer-{spec.name}")
            if spec.timer_handlers:
                timer_runner = TimerRunner(
                    unit, spec.timer_handlers, poll_interval_s=settings.timer_poll_interval_s
                )
                self.timer_runners[spec.name] = timer_runner
                self._spawn(timer_runner.run, f"timers-{spec.name}")
            for index, worker in enumerate(spec.workers):
                self._spawn(worker.run, f"worker-{spec.name}-{index}")
        if self.database.is_sqlite:
            self.checkpointer = WalCheckpointer(self.database.sqlite_path)
            self._spawn(self.checkpointer.run, "sqlite-checkpoints")
        if isinstance(self.bus, EmbeddedBus):
            self.log_retention = LogRetention(
                self.database,
                self.clock,
                [s.group(namespace) for s in self.specs if s.event_types()],
                timedelta(days=settings.log_retention_days),
            )
            self._spawn(self.log_retention.run, "log-retention")
        if self.publisher is None:
            # Embedded: a committed outbox row is published; nothing ever waits.
            for spec in self.specs:
                metrics.OUTBOX_BACKLOG.labels(spec.name).set(0)
        self.ready = True
        log.info(
            "leadfarm %s runtime started: %s", self.mode, ", ".join(s.name for s in self.specs)
        )

    def hold_data_dir(self) -> None:
        """Take `<data-dir>/leadfarm.lock` for as long as this runtime runs (embedded only);
        raises DataDirInUse when another process holds it. `leadfarm up` calls it before
        anything else, so a second process on the same data directory is refused at once."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_data_dir(self.settings.data_dir)

    def _spawn(self, run: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        supervisor = asyncio.create_task(self._supervise(run, name), name=f"{name}-supervisor")
        self._tasks.append(supervisor)

    async def _supervise(self, run: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        """Run a background loop (a consumer, relay, timer runner or worker) and, when it
        stops while the runtime is not stopping (an error, a cancellation, a return),
        restart it after a backoff. From that moment until the new run has lasted
        STABLE_AFTER_S, the task is down: `/readyz` answers 503 naming it, so a loop
        that keeps failing keeps the process unready."""
        delay = RESTART_DELAY_S
        while True:
            task = asyncio.create_task(run(), name=name)
            self._running[name] = task
            try:
                if name in self._down:
                    done, _ = await asyncio.wait({task}, timeout=STABLE_AFTER_S)
                    if not done:
                        del self._down[name]
                        delay = RESTART_DELAY_S
                await asyncio.wait({task})
            except asyncio.CancelledError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                raise
            if self._stopping.is_set():
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s stopped with an error", name, exc_info=task.exception())
                return
            error = None if task.cancelled() else task.exception()
            why = "cancelled" if task.cancelled() else repr(error) if error else "returned"
            self._down[name] = why
            metrics.TASK_RESTARTS.labels(name).inc()
            log.error(
                "%s stopped unexpectedly (%s); restarting it in %gs",
                name,
                why,
                delay,
                exc_info=error,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            if self._stopping.is_set():
                return
            delay = min(delay * 2, MAX_RESTART_DELAY_S)

    def down(self) -> dict[str, str]:
        """Background tasks that stopped unexpectedly and are not running stably again,
        with why they stopped."""
        return dict(self._down)

    def task(self, name: str) -> asyncio.Task[None] | None:
        """The current run of the background task `name` (e.g. `worker-router-0`)."""
        return self._running.get(name)

    async def stop(self) -> None:
        """Turn unready, stop consuming, finish in-flight work, flush the outbox, close."""
        self.ready = False
        self._stopping.set()
        for consumer in self.consumers:
            await consumer.stop()
        for timer_runner in self.timer_runners.values():
            await timer_runner.stop()
        for spec in self.specs:
            for worker in spec.workers:
                await worker.stop()
        if self.checkpointer is not None:
            await self.checkpointer.stop()
        if self.log_retention is not None:
            await self.log_retention.stop()
        consumer_tasks = [t for t in self._tasks if not t.get_name().startswith("relay-")]
        _, late = (
            await asyncio.wait(consumer_tasks, timeout=self.settings.shutdown_timeout_s)
            if consumer_tasks
            else (set(), set())
        )
        for task in late:
            task.cancel()
        if late:
            self.stopped_cleanly = False
            log.error(
                "shutdown: %s still running after LEADFARM_SHUTDOWN_TIMEOUT_S=%ss, cancelled "
                "(uncommitted messages are delivered again on the next start)",
                ", ".join(sorted(t.get_name().removesuffix("-supervisor") for t in late)),
                self.settings.shutdown_timeout_s,
            )
        for relay in self.relays:
            await relay.stop()
        for task in self._tasks:
            if not task.done():
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.bus.stop()
        await self.database.dispose()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        log.info("leadfarm %s runtime stopped", self.mode)

    async def ensure_admin_key(self) -> str | None:
        """On first start with no LEADFARM_ADMIN_KEY and no admin key stored, create one
        and return it (to be printed once). Otherwise None."""
        if self.settings.admin_key is not None or await self.key_store.has_active_admin():
            return None
        _, token = await self.key_store.create(
            "bootstrap admin (printed once at first start)", "admin", None, self.clock.now()
        )
        return token


class DataDirInUse(RuntimeError):
    """Another process holds the data directory's lock."""


def _lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold `<data-dir>/leadfarm.lock` while the embedded runtime runs: two processes on one
    SQLite file would each run every consumer, timer and worker (each claims work the other
    also claims, and both write one log), so a second one is refused; and operations that
    need the runtime stopped (`leadfarm replay`) can tell. It is an OS lock (flock), which
    the kernel releases when the holder dies, so a crashed `leadfarm up` never blocks the
    next start."""
    path = data_dir / "leadfarm.lock"
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirInUse(
            f"another Leadfarm process is using the data directory {data_dir} (it holds "
            f"{path}); stop it first, or give this one another --data-dir"
        ) from None
    return handle


def _build_specs(units: dict[ServiceName, UnitOfWork], settings: Settings) -> list[ServiceSpec]:
    return [builder_of(name)(unit, settings) for name, unit in units.items()]


def embedded_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    database = Database(settings.database_url or settings.sqlite_url())
    units = {s: UnitOfWork(database, s, clock, settings.topic_namespace) for s in SERVICES}
    admin_key = settings.admin_key.get_secret_value() if settings.admin_key else None
    return Runtime(
        mode="embedded",
        settings=settings,
        clock=clock,
        database=database,
        bus=EmbeddedBus(database),
        publisher=None,
        units=units,
        specs=_build_specs(units, settings),
        key_store=KeyStore(
            units["ingest"], admin_key, settings.api_key_cache_s, settings.api_key_cache_size
        ),
    )


def cluster_runtime(
    settings: Settings, service: ServiceName, clock: Clock | None = None
) -> Runtime:
    clock = clock or SystemClock()
    database = Database(settings.cluster_database_url(), service=service)
    unit = UnitOfWork(database, service, clock, settings.topic_namespace)
    bus = KafkaBus(
        settings.kafka_bootstrap_servers,
        send_timeout_s=settings.kafka_send_timeout_s,
        client_id=f"leadfarm-{service}",
    )
    admin_key = settings.admin_key.get_secret_value() if settings.admin_key else None
    return Runtime(
        mode="cluster",
        settings=settings,
        clock=clock,
        database=database,
        bus=bus,
        publisher=bus,
        units={service: unit},
        specs=_build_specs({service: unit}, settings),
        key_store=KeyStore(unit, admin_key, settings.api_key_cache_s, settings.api_key_cache_size),
    )
