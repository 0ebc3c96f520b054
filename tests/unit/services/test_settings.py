from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.settings import Settings


def test_production_refuses_a_placeholder_admin_key() -> None:
    with pytest.raises(ValidationError, match="LEADFARM_ADMIN_KEY"):
        Settings(env="production", admin_key="changeme")  # type: ignore[arg-type]


def test_development_accepts_a_short_key_and_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADFARM_TOPIC_NAMESPACE", "acme")
    monkeypatch.setenv("LEADFARM_ADMIN_KEY", "s3cret-value")
    monkeypatch.setenv("LEADFARM_DATABASE_URL", "postgresql+asyncpg://u:pw-s3cret@h/db")
    settings = Settings()
    assert settings.topic_namespace == "acme"
    assert settings.admin_key is not None
    assert "s3cret" not in repr(settings), "secrets are never shown"


def test_bad_namespace_is_refused() -> None:
    with pytest.raises(ValidationError, match="topic_namespace"):
        Settings(topic_namespace="no spaces")


def test_cluster_needs_a_postgres_url() -> None:
    with pytest.raises(ValueError, match="LEADFARM_DATABASE_URL must be a PostgreSQL URL"):
        Settings(database_url="sqlite+aiosqlite:///x.db").cluster_database_url()
