"""The topic catalogue: one topic per producing service, keyed by lead id.

Topic names carry a namespace (default `leadfarm`) so that several installations, or
parallel test runs, can share one Kafka cluster without seeing each other's events.
"""

from __future__ import annotations

from typing import Literal

ServiceName = Literal["ingest", "qualifier", "router", "nurture", "audit"]
SERVICES: tuple[ServiceName, ...] = ("ingest", "qualifier", "router", "nurture", "audit")
DLQ_SUFFIX = ".dlq"


def topic_for(service: ServiceName, namespace: str = "leadfarm") -> str:
    """The topic a service says its events on."""
    return f"{namespace}.{service}"


def dlq_for(topic: str) -> str:
    """Where messages that keep failing on `topic` are parked with their error."""
    return topic + DLQ_SUFFIX


def all_topics(namespace: str = "leadfarm") -> list[str]:
    """Every topic, dead-letter topics included (what `leadfarm topics create` makes)."""
    main = [topic_for(s, namespace) for s in SERVICES]
    return main + [dlq_for(t) for t in main]
