"""nurture's settings (LEADFARM_NURTURE_*)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings
from services.standard_webhooks import check_secret


class NurtureSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADFARM_NURTURE_", extra="ignore")

    batch_linger_s: float = Field(0.1, ge=0.0, le=5.0)
    """How long the consumer waits to fill a batch that came short; nurture is off the path
    from a webhook to the rep, so it trades this much staleness for far fewer transactions
    under a steady trickle of events (0: handle each fetch at once)."""

    tracks_file: Path | None = None
    """The tracks file; the shipped nurture/tracks.yaml when unset."""

    sender: Literal["outbox", "smtp", "webhook"] = "outbox"
    """outbox writes each email as an .eml file to outbox_dir (the default, for trying it);
    smtp sends through an SMTP server; webhook posts each email to an email service
    provider's endpoint."""
    outbox_dir: Path | None = None
    """Where the outbox sender writes; <data dir>/nurture-outbox when unset."""
    from_address: str = "nurture@leadfarm.localhost"
    from_name: str = "Leadfarm"
    reply_to: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    """The base URL people reach Leadfarm at: unsubscribe and tracked links start with it."""
    signing_key: SecretStr | None = None
    """Signs unsubscribe and tracking links. Unset: a random key is made once and kept in
    nurture's own tables, shared by every replica."""

    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_s: float = Field(30.0, gt=0)
    """The whole SMTP exchange of one email, every reply included."""

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    """A Standard Webhooks secret (`whsec_` + base64 of 24 to 64 random bytes): each
    request is signed with it (`webhook-id`, `webhook-timestamp`, `webhook-signature`)."""
    webhook_timeout_s: float = Field(15.0, gt=0)
    """The whole request, the answer's body included (services/outbound.py)."""

    send_poll_interval_s: float = Field(0.5, gt=0)
    send_batch_size: int = Field(50, ge=1)
    send_concurrency: int = Field(4, ge=1)
    send_max_attempts: int = Field(8, ge=1)
    send_lease_s: float = Field(300.0, gt=0)

    @model_validator(mode="after")
    def _sender_configured(self) -> NurtureSettings:
        if self.sender == "smtp" and not self.smtp_host:
            raise ValueError("LEADFARM_NURTURE_SENDER=smtp needs LEADFARM_NURTURE_SMTP_HOST")
        if self.sender == "webhook" and not self.webhook_url:
            raise ValueError("LEADFARM_NURTURE_SENDER=webhook needs LEADFARM_NURTURE_WEBHOOK_URL")
        if self.webhook_secret is not None:
            try:
                check_secret(self.webhook_secret.get_secret_value())
            except ValueError as exc:
                raise ValueError(
                    f"LEADFARM_NURTURE_WEBHOOK_SECRET is not a Standard Webhooks secret: {exc}; "
                    'make one with: echo "whsec_$(openssl rand -base64 32)"'
                ) from None
        if not self.public_url.startswith(("http://", "https://")):
            raise ValueError("LEADFARM_NURTURE_PUBLIC_URL must be an http(s) URL")
        return self
