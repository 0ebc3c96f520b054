"""ingest's metrics."""

from prometheus_client import Counter

REJECTIONS = Counter(
    "leadfarm_ingest_rejections_total",
    "Deliveries or requests refused or rejected, by source and reason",
    ["source", "reason"],
)
DELIVERIES = Counter(
    "leadfarm_ingest_deliveries_total",
    "Deliveries accepted, by source and outcome",
    ["source", "outcome"],
)
