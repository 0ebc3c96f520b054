"""Settings from `LEADFARM_*` environment variables, validated at start-up.

One base class here; each service adds its own with its own prefix
(`LEADFARM_ROUTER_*`, ...) by subclassing `ServiceSettings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.crypto import MAKE_A_KEY, SecretBox, development_key, parse_keys

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "admin", "test"}


class Settings(BaseSettings):
    # A validation error never quotes the input: it holds the admin key and the secrets key.
    model_config = SettingsConfigDict(
        env_prefix="LEADFARM_", extra="ignore", hide_input_in_errors=True
    )

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("leadfarm-data")
    database_url: str | None = Field(None, repr=False)
    """PostgreSQL (postgresql+asyncpg://...) for the cluster; embedded defaults to SQLite in
    data_dir."""
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_namespace: str = "leadfarm"
    topic_partitions: int = Field(6, ge=1)
    topic_replication_factor: int = Field(1, ge=1)
    """Replicas of each topic Leadfarm creates: 3 on a production cluster (producers send
    with acks=all, so min.insync.replicas must be reachable)."""
    create_topics: bool = True
    migrate_on_start: bool = True
    admin_key: SecretStr | None = None
    audit_url: str | None = None
    """audit's HTTP address (http://audit:8000), for the services that replay its archive
    (the router's and the qualifier's backtests). Unset: the process serves audit itself
    (the embedded runtime) and calls it in process."""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    consumer_max_attempts: int = 3
    consumer_retry_backoff_s: float = 0.2
    consumer_batch_size: int = 200
    log_retention_days: float = Field(7.0, gt=0)
    """Embedded: how long the log keeps a record every consumer has read (services/bus/
    retention.py; dead letters and their replays stay). Kafka's topics have their own."""
    inbox_retention_days: float = Field(30.0, gt=0)
    """How long a consumer's inbox remembers an event it handled (services/inbox.py): far
    longer than a redelivery takes, and at least as long as the topics keep records
    (Kafka's retention): offsets reset to before it would apply older events again."""
    kafka_send_timeout_s: float = 10.0
    relay_poll_interval_s: float = 0.5
    relay_batch_size: int = 500
    timer_poll_interval_s: float = 1.0
    shutdown_timeout_s: float = 20.0
    secrets_key: SecretStr | None = None
    """Fernet key(s), comma-separated, that seal stored secrets (services/crypto.py); the
    first seals, all open. Required in production; elsewhere a key is kept in
    <data_dir>/secrets.key when unset."""
    api_key_cache_s: float = 10.0
    api_key_cache_size: int = Field(10_000, ge=1)
    """API keys cached per process, at most (key ids found unknown: at most 1,024 more)."""

    @field_validator("topic_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_." for c in value):
            raise ValueError("must be letters, digits, '-', '_' or '.'")
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        if self.env == "production" and self.admin_key is not None:
            key = self.admin_key.get_secret_value()
            if key.lower() in PLACEHOLDER_SECRETS or len(key) < 24:
                raise ValueError(
                    "LEADFARM_ADMIN_KEY is a placeholder or shorter than 24 characters; "
                    "set a long random value in production"
                )
        if self.secrets_key is not None:
            parse_keys(self.secrets_key.get_secret_value())
        elif self.env == "production":
            raise ValueError(
                "LEADFARM_SECRETS_KEY is required in production: it seals the secrets Leadfarm "
                f"stores (provider secrets, webhook secrets, the link-signing key); make one "
                f"with: {MAKE_A_KEY}"
            )
        return self

    def secret_box(self) -> SecretBox:
        """The box that seals this process's stored secrets."""
        if self.secrets_key is not None:
            return SecretBox(parse_keys(self.secrets_key.get_secret_value()))
        data_dir = self.data_dir
        return SecretBox(lambda: development_key(data_dir))

    def http_url(self) -> str:
        """This process's HTTP address to open or call: a wildcard listen address is reached
        on the loopback."""
        host = self.http_host
        if host in ("0.0.0.0", "", "::"):  # noqa: S104 - naming the wildcard, not binding it
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.http_port}"

    def sqlite_url(self) -> str:
        return f"sqlite:///{(self.data_dir / 'leadfarm.db').resolve()}"

    def cluster_database_url(self) -> str:
        if not self.database_url or not self.database_url.startswith("postgresql"):
            raise ValueError(
                "LEADFARM_DATABASE_URL must be a PostgreSQL URL "
                "(postgresql+asyncpg://user:pass@host:5432/db) to run a service in the cluster"
            )
        return self.database_url


class ServiceSettings(BaseSettings):
    """Base of per-service settings; subclasses set env_prefix to LEADFARM_<SERVICE>_ (their
    model_config is merged with this one, so their errors never quote input either: it
    holds passwords and signing keys)."""

    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)
