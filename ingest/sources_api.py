"""ingest's sources under /ingest/v1/sources (admin scope): create or replace one, rotate and
retire its secrets, read them masked. docs/sources.md describes a source."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Response

from ingest.dependencies import Ingest
from ingest.records import StoredSource
from ingest.sources import (
    SecretRetireIn,
    SecretRotateIn,
    SourceCatalog,
    SourceIn,
    SourceOut,
    masked,
    retired,
    rotated,
    to_source,
    unexpired,
)
from services.auth import AdminKey
from services.db import Tx
from services.egress import PrivateAddress, check_public
from services.problems import Problem, field_error

SourceName = Annotated[
    str,
    Path(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$",
        description="lower-case letters, digits, '.', '_' or '-'",
    ),
]


routes = APIRouter(prefix="/ingest/v1", tags=["ingest"])
"""The sources' routes; `ingest.api.build_router` binds them to one service's `IngestApi`."""


@routes.put(
    "/sources/{name}",
    response_model=SourceOut,
    responses={201: {"model": SourceOut, "description": "Created"}},
)
async def put_source(
    name: SourceName, body: SourceIn, response: Response, _: AdminKey, ingest: Ingest
) -> SourceOut:
    """Create or replace a source. Secrets are stored and never shown again."""
    catalog = ingest.catalog
    if name in catalog.from_env:
        raise Problem(
            409,
            f"Source {name!r} is defined in the environment "
            "(LEADFARM_INGEST_SOURCES); change it there.",
        )
    source = to_source(name, body)
    if body.api_base_url and not ingest.settings.allow_private_api_urls:
        try:
            await check_public(body.api_base_url)  # SSRF: an admin's URL, called later
        except PrivateAddress as exc:
            raise Problem(
                422,
                f"The source is not valid: api_base_url cannot be used: {exc}. Fetches go "
                "to public addresses only; set LEADFARM_INGEST_ALLOW_PRIVATE_API_URLS=true "
                "where ingest may call private ones (a local tool, a test).",
                errors=[field_error("api_base_url", f"must reach a public address: {exc}")],
            ) from exc
    async with ingest.unit.transaction() as tx:
        stored = await catalog.put(tx, source)
    catalog.remember(name)
    if stored.created_at == stored.updated_at:
        response.status_code = 201
    return masked(stored.source, "api", stored.created_at, stored.updated_at)


@routes.post("/sources/{name}/secret:rotate", response_model=SourceOut)
async def rotate_secret(name: str, body: SecretRotateIn, _: AdminKey, ingest: Ingest) -> SourceOut:
    """Give a secret a new value. The value it replaces keeps verifying for `overlap_s`
    seconds (default a day), so the provider can be switched over without losing a
    webhook; then it stops, or at once with `secret:retire`."""
    async with ingest.unit.transaction() as tx:
        stored = await _stored_source(tx, ingest.catalog, name, body.secret)
        until = {k: v for k, v in stored.previous_until.items() if k != body.secret}
        source = rotated(stored.source, body.secret, body.value)
        if len(source.secret_values(body.secret)) > 1 and body.overlap_s > 0:
            until[body.secret] = tx.now() + timedelta(seconds=body.overlap_s)
        else:
            source = retired(source, body.secret)
        stored = await ingest.catalog.put(tx, source, until)
    return masked(stored.source, "api", stored.created_at, stored.updated_at, until)


@routes.post("/sources/{name}/secret:retire", response_model=SourceOut)
async def retire_secret(name: str, body: SecretRetireIn, _: AdminKey, ingest: Ingest) -> SourceOut:
    """Stop the previous value of a rotated secret verifying now."""
    async with ingest.unit.transaction() as tx:
        stored = await _stored_source(tx, ingest.catalog, name, body.secret)
        until = {k: v for k, v in stored.previous_until.items() if k != body.secret}
        source = retired(stored.source, body.secret)
        stored = await ingest.catalog.put(tx, source, until)
    return masked(stored.source, "api", stored.created_at, stored.updated_at, until)


async def _stored_source(tx: Tx, catalog: SourceCatalog, name: str, secret: str) -> StoredSource:
    if name in catalog.from_env:
        raise Problem(
            409,
            f"Source {name!r} is defined in the environment "
            "(LEADFARM_INGEST_SOURCES); rotate its secret there.",
        )
    stored = await catalog.find(tx, name)
    if stored is None:
        raise Problem(404, f"There is no source named {name!r}.")
    if not stored.source.secret_values(secret):
        names = ", ".join(sorted(stored.source.secrets)) or "none"
        raise Problem(
            422,
            f"Source {name!r} has no secret {secret!r} (its secrets: {names}).",
            errors=[field_error("secret", "not a secret of this source")],
        )
    return stored


@routes.get("/sources/{name}", response_model=SourceOut)
async def get_source(name: str, _: AdminKey, ingest: Ingest) -> SourceOut:
    catalog = ingest.catalog
    if name in catalog.from_env:
        return masked(catalog.from_env[name], "environment")
    async with ingest.unit.read() as conn:
        stored = await catalog.find(conn, name)
    if stored is None:
        raise Problem(404, f"There is no source named {name!r}.")
    current = unexpired(stored.source, stored.previous_until, ingest.unit.clock.now())
    return masked(current, "api", stored.created_at, stored.updated_at, stored.previous_until)


@routes.get("/sources", response_model=list[SourceOut])
async def list_sources(_: AdminKey, ingest: Ingest) -> list[SourceOut]:
    catalog = ingest.catalog
    async with ingest.unit.read() as conn:
        stored = await catalog.all_stored(conn)
    now = ingest.unit.clock.now()
    out = [masked(s, "environment") for s in catalog.from_env.values()]
    return out + [
        masked(
            unexpired(s.source, s.previous_until, now),
            "api",
            s.created_at,
            s.updated_at,
            s.previous_until,
        )
        for s in stored
        if s.source.name not in catalog.from_env
    ]
