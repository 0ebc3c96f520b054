"""router's settings (LEADFARM_ROUTER_*).

The SLA values are the defaults of every pool; a pool can set its own (PUT
/router/v1/pools/{id}, `sla`).
"""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFARM_ROUTER_", extra="ignore")

    default_pool: str = "everyone"
    """The pool a lead goes to when no rule matches."""
    first_touch_minutes: float = Field(5.0, gt=0)
    """Business minutes a rep has to first touch an assigned lead before `sla.breached`."""
    cadence_calls: int = Field(4, ge=0)
    cadence_emails: int = Field(2, ge=0)
    cadence_business_days: int = Field(10, ge=1)
    """The cadence's window: the required attempts are due by the close of this business day."""
    cadence_min_spacing_minutes: float = Field(60.0, ge=0)
    """Business minutes between two calls (or two emails) for the second to count."""
    reassign_on_missed_first_touch: bool = True
    max_reassignments: int = Field(2, ge=0)
    """Reassignments of one lead after missed first touches, at most."""
    default_capacity: int = Field(50, ge=1)
    """Capacity of an uncapped rep for `least_loaded` (open leads against capacity)."""

    compliance_window_days: int = Field(30, ge=1)
    compliance_threshold: float = Field(0.8, ge=0, le=1)
    """Below this share of SLA obligations met, a rep is suspended (`rep.suspended`)."""
    compliance_min_obligations: int = Field(5, ge=1)
    """A rep is judged only once this many obligations fell due in the window."""

    allow_private_webhook_urls: bool = False
    """Let subscriptions call loopback, private and link-local addresses (a tool on this
    machine, tests). Off, such URLs are refused when set and before each delivery (SSRF)."""
    webhook_timeout_s: float = Field(10.0, gt=0, le=60)
    """The whole of one delivery's request, the answer's body included (a receiver that
    drips its answer is cut off here); well under the 2-minute lease of a delivery."""
    webhook_retry_hours: float = Field(24.0, gt=0)
    """A delivery is retried with exponential backoff for this long, then marked dead."""
    webhook_max_backoff_s: float = Field(3600.0, gt=0)
    webhook_poll_interval_s: float = Field(1.0, gt=0)
    webhook_concurrency: int = Field(128, ge=1)
    """Deliveries in flight at once (per process): requests to receivers, a slot being
    free again once the receiver has answered (the outcome is stored after). What one
    subscription needs is its leads per second times its receiver's answer time: 300
    leads/s (a webinar's end) to a tool answering in 300 ms is 90 in flight. Fewer slots
    make deliveries queue exactly when leads arrive fastest; 32 did so at full load on
    the all-in-one process, while a slot was still held until the outcome was stored
    (docs/benchmarks.md, "Stop 27")."""
    webhook_concurrency_per_subscription: int = Field(4, ge=1)
    """Each subscription's share: it gets this many first, and may use the whole pool but
    one share while others have nothing in flight, so a slow receiver never holds up a
    newcomer."""

    connector_retry_hours: float = Field(24.0, gt=0)
    """A connector delivery (a write to a rep's CRM) is retried with exponential backoff
    for this long (or as long as the vendor's Retry-After asks), then marked dead with the
    vendor's answer. The request deadline, backoff cap and poll are the webhooks' ones."""
    connector_concurrency: int = Field(8, ge=1)
    """Connector deliveries in flight at once (per process)."""
    connector_concurrency_per_connector: int = Field(4, ge=1)
    """Each connector's share of those (a slow vendor holds only its own)."""
