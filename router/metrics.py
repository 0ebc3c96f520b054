"""router's metrics. `leadfarm_router_fallback_total` is the alert: a qualified lead that no
rep could take."""

from prometheus_client import Counter, Histogram

DECISIONS = Counter(
    "leadfarm_router_decisions_total",
    "Routing decisions, by outcome (assign, hold, queue), pool and strategy",
    ["outcome", "pool", "strategy"],
)
DECISION_SECONDS = Histogram(
    "leadfarm_router_decision_seconds",
    "Time to decide and record where a lead goes",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
PARTITION_LOCK_SECONDS = Histogram(
    "leadfarm_router_partition_lock_seconds",
    "How long a routing transaction that committed held its pool's lock (PostgreSQL; one "
    "observation per pool it locked). Its rate of seconds is the share of time the pool was "
    "taken: near 1, that pool's decisions are the limit whatever the replicas",
    ["pool"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
FALLBACK = Counter(
    "leadfarm_router_fallback_total",
    "Leads put in the fallback queue because no rep could take them (alert on this)",
    ["pool"],
)
SLA = Counter(
    "leadfarm_router_sla_total",
    "SLA outcomes: first_touch met/breached; cadence connected/exhausted/breached",
    ["sla", "result"],
)
SUSPENSIONS = Counter("leadfarm_router_suspensions_total", "Reps suspended for compliance")
WEBHOOKS = Counter(
    "leadfarm_router_webhook_attempts_total",
    "Webhook delivery attempts, by result (delivered, failed, dead)",
    ["result"],
)
WEBHOOKS_HANDED_OFF = Counter(
    "leadfarm_router_webhooks_handed_off_total",
    "Webhook deliveries started the moment their transaction committed, with no claim",
)
CONNECTOR_ATTEMPTS = Counter(
    "leadfarm_router_connector_attempts_total",
    "Connector delivery attempts (writes to reps' CRMs), by connector, kind and result "
    "(delivered, failed, skipped, dead)",
    ["connector", "kind", "result"],
)
CONNECTOR_ACTIVITIES = Counter(
    "leadfarm_router_connector_activities_total",
    "Activities from reps' CRMs, by connector, kind and outcome (logged, duplicate, "
    "ignored, refused)",
    ["connector", "kind", "outcome"],
)
ACCOUNT_SYNC_RUNS = Counter(
    "leadfarm_router_account_sync_runs_total",
    "Account syncs from reps' CRMs, by connector, kind and result (synced, failed: retried "
    "with backoff)",
    ["connector", "kind", "result"],
)
ACCOUNT_SYNC_ACCOUNTS = Counter(
    "leadfarm_router_account_sync_accounts_total",
    "CRM accounts an account sync read, by connector, kind and outcome (added, moved, "
    "unchanged, unmatched, no_owner, no_domain, removed, rematched)",
    ["connector", "kind", "outcome"],
)
