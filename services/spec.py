"""What a service contributes to a runtime: its routes, event handlers and timer handlers.

Each service package exposes `build(unit, settings) -> ServiceSpec`, its composition root.
The runtimes call the same roots, embedded or in the cluster.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fastapi import APIRouter

from contracts.events import EventData
from contracts.topics import ServiceName, topic_for
from services.consumer import BatchHandlerMap, Handler, HandlerMap, one_at_a_time
from services.db import UnitOfWork
from services.directroutes import DirectRoute
from services.settings import Settings
from services.timers import TimerHandler


class Worker(Protocol):
    """A background loop a service runs beside its consumers (e.g. fetching leads from a
    provider's API outside any database transaction)."""

    async def run(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class ServiceSpec:
    name: ServiceName
    router: APIRouter
    handlers: HandlerMap = field(default_factory=dict)
    batch_handlers: BatchHandlerMap = field(default_factory=dict)
    """Event types whose handler takes a run of consecutive events (set-based writes)."""
    timer_handlers: dict[str, TimerHandler] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    migrations: Path | None = None
    direct_routes: list[DirectRoute] = field(default_factory=list)
    """Routes of `router` that the app also serves ahead of FastAPI's routing, with their
    endpoint's arguments bound (services/directroutes.py): the requests every lead makes."""
    body_limits: dict[str, int] = field(default_factory=dict)
    """Route path -> largest request body accepted, where the default does not fit."""
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run once when the runtime starts, after the migrations (resealing stored secrets
    with the current key); an error stops the start."""
    any_topic: bool = False
    """Handle an event whichever topic it is found on (audit's archive). Otherwise an event
    is handled only on its own service's topic."""

    batch_linger_s: float = 0.0
    """How long the consumer waits to fill a batch that came short (services/consumer.py):
    for services off the path from a webhook to the rep (audit, nurture), where a little
    staleness buys far fewer transactions. 0 for the others: every millisecond there is
    speed to lead."""

    def group(self, namespace: str) -> str:
        """The consumer group (and inbox name) of this service."""
        return f"{namespace}.{self.name}"

    def topics(self, namespace: str) -> list[str]:
        return sorted({topic_for(t.SERVICE, namespace) for t in self.event_types()})

    def event_types(self) -> set[type[EventData]]:
        return {*self.handlers, *self.batch_handlers}

    def handler_of(self, event_type: type[EventData]) -> Handler | None:
        """The handler of one event of this type (a batch handler is given a list of one)."""
        batch_handler = self.batch_handlers.get(event_type)
        if batch_handler is not None:
            return one_at_a_time(batch_handler)
        return self.handlers.get(event_type)


ServiceBuilder = Callable[[UnitOfWork, Settings], ServiceSpec]
