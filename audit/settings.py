"""audit's settings (LEADFARM_AUDIT_*)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFARM_AUDIT_", extra="ignore")

    batch_linger_s: float = Field(0.1, ge=0.0, le=5.0)
    """How long the consumer waits to fill a batch that came short; audit is off the path
    from a webhook to the rep, so it trades this much staleness for far fewer transactions
    under a steady trickle of events (0: handle each fetch at once)."""

    # --- Prospect Satisfaction audits (the sampling policy) --------------------------------
    sample_rate: float = Field(0.10, ge=0.0, le=1.0)
    """Share of assigned leads that get a Prospect Satisfaction audit. The choice is a hash
    of the lead id, so it is the same on every replica and every replay."""
    audit_returned: bool = True
    """Audit every lead that sales returned or rejected."""
    audit_after_days: float = Field(3.0, ge=0.0)
    """Days after the audit opens before the prospect should be asked (time to be worked)."""

    # --- the forecast ----------------------------------------------------------------------
    forecast_share: Decimal = Field(Decimal("0.10"), gt=0, le=1)
    """A sales-qualified short-term lead enters the forecast at this share of the average
    deal size."""
    default_deal_size: Decimal = Field(Decimal("10000"), gt=0)
    """The average deal size used until there are `min_won_deals` closed-won deals."""
    min_won_deals: int = Field(10, ge=1)
    """Closed-won deals needed before the average deal size is taken from them."""
    default_close_days: int = Field(90, ge=0, le=3650)
    """Days from qualification to the expected close when the lead gave no timeframe; the
    expected close month is the forecast period."""
    currency: str = Field("USD", min_length=3, max_length=3)
    """The currency of the forecast, of spend and of the average deal size."""

    # --- metrics ---------------------------------------------------------------------------
    dominance_threshold: float = Field(0.60, gt=0.0, le=1.0)
    """Source mix warns when one source class gives more than this share of the leads."""
