"""router's settings (LEADFARM_ROUTER_*)."""

from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class RouterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFARM_ROUTER_", extra="ignore")

    first_touch_minutes: float = 5.0
    """Minutes a rep has to first touch an assigned lead before `sla.breached`."""
