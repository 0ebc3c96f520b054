"""Prometheus metrics, one definition each, served at /metrics by every service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_HANDLED = Counter(
    "leadfarm_events_handled_total", "Events a consumer handled", ["consumer", "type", "result"]
)
HANDLER_SECONDS = Histogram(
    "leadfarm_handler_seconds",
    "Time to handle one event, transaction included",
    ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
DEAD_LETTERS = Counter(
    "leadfarm_dead_letters_total", "Messages sent to a dead-letter topic", ["consumer", "topic"]
)
CONSUMER_LAG = Gauge(
    "leadfarm_consumer_lag",
    "Messages after a consumer's position, by partition (set every few seconds)",
    ["consumer", "topic", "partition"],
)
EVENTS_PUBLISHED = Counter("leadfarm_events_published_total", "Outbox rows published", ["service"])
OUTBOX_BACKLOG = Gauge("leadfarm_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_RELAY_FAILURES = Counter(
    "leadfarm_outbox_relay_failures_total", "Failed outbox relay rounds", ["service"]
)
TIMERS_FIRED = Counter("leadfarm_timers_fired_total", "Durable timers fired", ["service", "kind"])
TIMERS_GIVEN_UP = Counter(
    "leadfarm_timers_given_up_total",
    "Durable timers whose handler failed on every attempt (listed by `leadfarm timers`)",
    ["service", "kind"],
)
SQLITE_CHECKPOINTS = Counter(
    "leadfarm_sqlite_checkpoints",
    "WAL checkpoints of the embedded database run off the event loop (services/checkpoints.py)",
)
GC_SECONDS = Counter(
    "leadfarm_gc_seconds",
    "Time the cyclic garbage collector took, by generation (services/gcpolicy.py)",
    ["generation"],
)
GC_FROZEN_OBJECTS = Gauge(
    "leadfarm_gc_frozen_objects",
    "Objects the garbage collector no longer walks: what the process was made of when it "
    "had started (services/gcpolicy.py)",
)
TASK_RESTARTS = Counter(
    "leadfarm_background_task_restarts_total",
    "Background tasks (consumers, relays, timer runners, workers) that stopped unexpectedly "
    "and were restarted",
    ["task"],
)
HTTP_REQUESTS = Counter(
    "leadfarm_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "leadfarm_http_request_seconds",
    "HTTP request time",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
DB_STATEMENTS = Counter(
    "leadfarm_db_statements_total",
    "SQL statements sent to the database, by the service they ran for (chassis: the bus)",
    ["service"],
)
REFERENCE_RELOADS = Counter(
    "leadfarm_reference_reloads_total",
    "Reference data (rules, definitions, sources...) reloaded after its version moved",
    ["service", "name"],
)
GROUP_COMMIT_ROUNDS = Counter(
    "leadfarm_group_commit_rounds_total",
    "Shared transactions of concurrent requests (services/groupcommit.py), by how they ended:"
    " committed; split (a work failed: each ran again alone); rolled_back (its one work"
    " failed); failed (a transient error, raised to every request of the round)",
    ["service", "outcome"],
)
GROUP_COMMIT_WORKS = Histogram(
    "leadfarm_group_commit_works",
    "Requests' writes committed together in one round",
    ["service"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
