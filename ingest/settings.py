"""ingest's settings (LEADFARM_INGEST_*)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFARM_INGEST_", extra="ignore")

    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Sources defined in the environment, as JSON: {"name": {"provider": ..., "secrets":
    {...}, ...}}. They take precedence over the API and cannot be changed through it."""
    idempotency_hours: float = Field(24.0, gt=0)
    """How long an Idempotency-Key's first answer is given again; after that the key is
    free and its answer deleted."""

    rate_limit_per_second: float = Field(20.0, gt=0)
    """Webhook requests per second allowed per source (per process), after the burst."""
    rate_limit_burst: int = Field(200, ge=1)
    """Both count only requests whose signature, token or key verified."""
    rate_limit_unverified_per_second: float = Field(1.0, gt=0)
    """Webhook requests per second per source that fail verification (401, 403, 400 before
    the signature is known), after the burst; beyond it they are answered 429. A bucket of
    their own, so they never use up the provider's."""
    rate_limit_unverified_burst: int = Field(20, ge=1)
    allow_private_api_urls: bool = False
    """Let sources' `api_base_url` reach loopback, private and link-local addresses (a
    provider's API played by a local server in tests). Off, such URLs, and names that do not
    resolve, are refused when set (422) and before every fetch (SSRF)."""
    fetch_max_attempts: int = Field(8, ge=1)
    """Tries to fetch a lead from a provider's API before the delivery is marked failed."""
    fetch_timeout_s: float = Field(10.0, gt=0)
    fetch_poll_interval_s: float = Field(1.0, gt=0)
    fetch_concurrency: int = Field(4, ge=1)

    @property
    def idempotency_window(self) -> timedelta:
        return timedelta(hours=self.idempotency_hours)
