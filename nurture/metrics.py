"""nurture's metrics."""

from prometheus_client import Counter

ENROLMENTS = Counter(
    "leadfarm_nurture_enrolments_total",
    "Leads enrolled, by track ('none' when no track matched)",
    ["track"],
)
EMAILS = Counter(
    "leadfarm_nurture_emails_total",
    "Email steps by outcome: queued, sent, skipped (no consent basis, suppressed, ...), "
    "cancelled, bounced, failed",
    ["outcome"],
)
ENGAGEMENTS = Counter(
    "leadfarm_nurture_engagements_total", "Engagements recorded, by type", ["type"]
)
RECYCLED = Counter(
    "leadfarm_nurture_recycled_total",
    "Leads handed back to the qualifier, by trigger (hand_raise, score)",
    ["trigger"],
)
UNSUBSCRIBES = Counter("leadfarm_nurture_unsubscribes_total", "Unsubscribe links followed")
