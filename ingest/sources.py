"""Sources: named configurations of one provider each, set through the API or the
environment. Secrets are validated against what the provider needs, stored, and never
shown again: reads mask them.

Rotation: a secret holds its current value and, during a rotation, the previous one (both
verify). `secret:rotate` makes the current value the previous one until an expiry;
`secret:retire` drops it at once; after its expiry `SourceCatalog.lookup` leaves it out, so
it stops verifying without anyone touching the source."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.events import SourceClass
from ingest import providers, repository
from ingest.providers.base import Source
from ingest.records import StoredSource
from services.controlchars import refuse_control_characters
from services.crypto import SecretBox
from services.db import Conn, ReadConn, Tx, UnitOfWork
from services.errors import DomainError, FieldError
from services.reference import Reference

MASK = "********"
NAMES_REFRESH_S = 30.0
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str
    secrets: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Secret name -> value, or two values while rotating (both are accepted)",
    )
    settings: dict[str, Any] = Field(default_factory=dict)
    api_base_url: str | None = Field(None, max_length=500, pattern=r"^https?://")
    source_class: SourceClass = "marketing"
    campaign: str | None = Field(None, max_length=200)

    _no_control_characters = field_validator("*")(refuse_control_characters)

    @field_validator("secrets")
    @classmethod
    def _values(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for name, secret in value.items():
            values = [secret] if isinstance(secret, str) else secret
            if not 1 <= len(values) <= 2 or not all(v.strip() for v in values):
                raise ValueError(f"{name}: give one value, or two while rotating, none empty")
        return value


class SourceOut(BaseModel):
    name: str
    provider: str
    secrets: dict[str, list[str]] = Field(description="Masked: one entry per stored value")
    settings: dict[str, Any]
    api_base_url: str | None
    source_class: SourceClass
    campaign: str | None
    previous_secret_valid_until: dict[str, datetime] = Field(
        default_factory=dict,
        description="Secrets being rotated: when the previous value stops verifying",
    )
    origin: str = Field(description="api, or environment (read-only here)")
    webhook_path: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


class SecretRotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _no_control_characters = field_validator("*")(refuse_control_characters)

    secret: str = Field(min_length=1, max_length=100, description="The secret's name")
    value: str = Field(min_length=1, max_length=4000, description="The new value")
    overlap_s: int = Field(
        86_400,
        ge=0,
        le=30 * 86_400,
        description="How long the value being replaced keeps verifying (0: not at all)",
    )


class SecretRetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _no_control_characters = field_validator("*")(refuse_control_characters)

    secret: str = Field(min_length=1, max_length=100, description="The secret's name")


class InvalidSource(DomainError, ValueError):
    """A source its provider cannot use, naming each field. A request that puts it is
    refused with 422 (a DomainError); one in LEADFARM_INGEST_SOURCES stops start-up (a
    ValueError, said as a bad configuration)."""

    status = 422

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.said = "; ".join(f"{f}: {m}" for f, m in errors)
        super().__init__(
            f"The source is not valid: {self.said}.",
            errors=[FieldError(f, m) for f, m in errors],
        )

    def __str__(self) -> str:
        return self.said


def to_source(name: str, body: SourceIn) -> Source:
    """Check a source against its provider's needs; raises InvalidSource naming each field."""
    provider = providers.get(body.provider)
    if provider is None:
        known = ", ".join(sorted(providers.PROVIDERS))
        raise InvalidSource([("provider", f"unknown provider {body.provider!r}; one of {known}")])
    errors: list[tuple[str, str]] = []
    allowed = set(provider.required_secrets) | set(provider.optional_secrets)
    for missing in sorted(set(provider.required_secrets) - set(body.secrets)):
        errors.append((f"secrets.{missing}", f"required by provider {provider.name}"))
    for unknown in sorted(set(body.secrets) - allowed):
        errors.append(
            (
                f"secrets.{unknown}",
                f"not a secret of provider {provider.name} "
                f"(its secrets: {', '.join(sorted(allowed)) or 'none'})",
            )
        )
    try:
        settings = provider.settings_model.model_validate(body.settings).model_dump()
    except ValidationError as exc:
        settings = {}
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            errors.append((f"settings.{loc}" if loc else "settings", err["msg"]))
    if provider.needs_api_base_url and not (body.api_base_url or provider.default_api_base_url):
        errors.append(("api_base_url", f"provider {provider.name} fetches leads from an API"))
    if errors:
        raise InvalidSource(errors)
    return Source(
        name=name,
        provider=provider.name,
        secrets={k: (v,) if isinstance(v, str) else tuple(v) for k, v in body.secrets.items()},
        settings=settings,
        api_base_url=body.api_base_url,
        source_class=body.source_class,
        campaign=body.campaign,
    )


def from_environment(configured: dict[str, dict[str, Any]]) -> dict[str, Source]:
    """Sources from LEADFARM_INGEST_SOURCES; a bad one stops start-up with its name."""
    out = {}
    for name, raw in configured.items():
        try:
            out[name] = to_source(name, SourceIn.model_validate(raw))
        except (ValidationError, InvalidSource) as exc:
            raise ValueError(f"LEADFARM_INGEST_SOURCES: source {name!r}: {exc}") from exc
    return out


def rotated(source: Source, secret: str, value: str) -> Source:
    """The source with `value` as the secret's current value and the old current value kept
    as the previous one (an older previous value is dropped)."""
    current = source.secret_values(secret)[-1:]
    values = (*current, value) if current and current[0] != value else (value,)
    return _with_secret(source, secret, values)


def retired(source: Source, secret: str) -> Source:
    """The source without the previous value of `secret`."""
    return _with_secret(source, secret, source.secret_values(secret)[-1:])


def unexpired(source: Source, previous_until: Mapping[str, datetime], now: datetime) -> Source:
    """The source as it verifies at `now`: previous values past their expiry left out."""
    for secret, until in previous_until.items():
        if until <= now and len(source.secret_values(secret)) > 1:
            source = retired(source, secret)
    return source


def _with_secret(source: Source, secret: str, values: tuple[str, ...]) -> Source:
    from dataclasses import replace

    return replace(source, secrets={**source.secrets, secret: values})


def masked(
    source: Source,
    origin: str,
    created: datetime | None = None,
    updated: datetime | None = None,
    previous_until: Mapping[str, datetime] | None = None,
) -> SourceOut:
    return SourceOut(
        name=source.name,
        provider=source.provider,
        secrets={k: [MASK] * len(v) for k, v in source.secrets.items()},
        settings=dict(source.settings),
        api_base_url=source.api_base_url,
        source_class=source.source_class,
        campaign=source.campaign,
        previous_secret_valid_until={
            k: v for k, v in (previous_until or {}).items() if len(source.secret_values(k)) > 1
        },
        origin=origin,
        webhook_path=f"/ingest/v1/webhooks/{source.name}",
        created_at=created,
        updated_at=updated,
    )


class SourceCatalog:
    """Where sources come from: the environment first, then the API-managed table, held in
    memory (services/reference.py): every source write bumps the `sources` version in its
    own transaction, and `refresh` reloads only when that version moved.

    The webhook route reads no source per request: it verifies against the copy in memory
    (a refusal, or an unknown name, checks the version first, so a source created or
    rotated on another replica is seen at once), and the group-commit round that stores the
    webhook checks the version once for all its requests (`refresh` as the committer's
    `prepare`): a request verified against a copy the round found stale is verified again.
    """

    def __init__(self, unit: UnitOfWork, from_env: dict[str, Source], box: SecretBox) -> None:
        self.unit = unit
        self.from_env = from_env
        self.box = box
        self._stored: Reference[Mapping[str, StoredSource]] = Reference(
            unit.service, "sources", self._load
        )
        self.snapshot: Mapping[str, StoredSource] = {}
        """The stored sources as last loaded; replaced (never changed) on a reload."""
        self._names: set[str] = set()
        self._names_until = 0.0

    async def metric_label(self, name: str) -> str:
        """`name` as a metric label: a configured source's name or `api`, else `other`. A
        lead's `source` is free text, and each new label value would be a new time series.
        The names are read at most every NAMES_REFRESH_S seconds."""
        if name == "api" or name in self.from_env:
            return name
        if time.monotonic() >= self._names_until:
            async with self.unit.read() as conn:
                self._names = await repository.source_names(conn)
            self._names_until = time.monotonic() + NAMES_REFRESH_S
        return name if name in self._names else "other"

    def remember(self, name: str) -> None:
        """A source stored by this process: labelled by name at once (others within
        NAMES_REFRESH_S)."""
        self._names.add(name)

    async def refresh(self, conn: AsyncConnection | Tx) -> None:
        """Check the version (one read) and reload the sources if it moved."""
        self.snapshot = await self._stored.current(conn)

    def stored(self, name: str) -> StoredSource | None:
        """The stored source as of the last `refresh` (no read; None for the environment's)."""
        return self.snapshot.get(name)

    def cached(self, name: str) -> Source | None:
        """The source as of the last `refresh` (no read)."""
        if name in self.from_env:
            return self.from_env[name]
        stored = self.snapshot.get(name)
        if stored is None:
            return None
        return unexpired(stored.source, stored.previous_until, self.unit.clock.now())

    async def lookup(self, name: str) -> Source | None:
        """The source as of now (one version read; the sources only when they changed)."""
        if name in self.from_env:
            return self.from_env[name]
        async with self.unit.read() as conn:
            await self.refresh(conn)
        return self.cached(name)

    async def put(
        self, tx: Tx, source: Source, previous_until: Mapping[str, datetime] | None = None
    ) -> StoredSource:
        """Create or replace a stored source (`previous_until`: when each rotated secret's
        previous value stops verifying)."""
        return await repository.put_source(tx, source, self.box, previous_until)

    async def find(self, conn: Conn, name: str) -> StoredSource | None:
        """The source stored under `name` as of now (one read), if any."""
        return await repository.get_source(conn, name, self.box)

    async def all_stored(self, conn: ReadConn) -> list[StoredSource]:
        """Every stored source as of now, by name."""
        return await repository.list_sources(conn, self.box)

    async def _load(self, conn: AsyncConnection) -> Mapping[str, StoredSource]:
        stored = await repository.list_sources(ReadConn(conn), self.box)
        return {s.source.name: s for s in stored}
