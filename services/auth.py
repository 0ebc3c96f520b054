"""Scoped API keys: `Authorization: Bearer lf_<key id>_<secret>`.

Scopes: `ingest` (post leads), `engagement` (report what people did with nurture's emails
and the website: engagements and bounces), `rep` (one rep's own leads), `manager` (rules,
reps, reports), `admin` (everything, keys included). A manager can do what a rep can; an admin
can do anything. Keys are stored as SHA-256 of the secret: the secret is 256 random bits,
so a slow password hash would add latency to every request and no security. The key id in
the token finds the row; the comparison is constant-time. `LEADFARM_ADMIN_KEY`, when set,
is an admin key that lives only in the environment.

Keys live in the `auth` schema, the one store every service reads: an identity provider
shared by all services, as an ingress's auth would be.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from cachetools import TTLCache
from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select, update

from services.controlchars import refuse_control_characters
from services.db import UnitOfWork
from services.problems import Problem
from services.tables import api_keys

Scope = Literal["ingest", "engagement", "rep", "manager", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "engagement", "rep", "manager", "admin")
# What each scope may also act as. The two machine scopes imply nothing: a form or an ad
# platform's key posts leads, an email provider's key reports engagements and bounces, and
# neither can do the other's job.
IMPLIED: dict[Scope, set[Scope]] = {
    "admin": {"admin", "manager", "rep", "ingest", "engagement"},
    "manager": {"manager", "rep"},
    "rep": {"rep"},
    "ingest": {"ingest"},
    "engagement": {"engagement"},
}


@dataclass(frozen=True)
class Principal:
    key_id: str
    scope: Scope
    rep_id: str | None = None
    name: str | None = None
    """The key's name, as given when it was made (who made a change, in words)."""

    def can(self, scope: Scope) -> bool:
        return scope in IMPLIED[self.scope]

    @property
    def is_rep_only(self) -> bool:
        """A rep key: sees and acts on its own leads only."""
        return self.scope == "rep"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """(key id, token to give out once, hash to store)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, f"lf_{key_id}_{secret}", hash_secret(secret)


UNKNOWN_CACHE_SIZE = 1024
"""Key ids found missing or revoked, remembered apart from the known ones, so a flood of
made-up ids churns only this cache and never evicts a real key."""


class KeyStore:
    """Looks up keys, with a short cache so a busy webhook does not hit the database on
    every request (a revoked key stops working within `cache_s` on other processes, at once
    on this one). Both caches are bounded: a key id comes from the request, and every
    unauthenticated request may carry a new one."""

    def __init__(
        self, unit: UnitOfWork, admin_key: str | None, cache_s: float, cache_size: int = 10_000
    ) -> None:
        self.unit = unit
        self._admin_hash = hash_secret(admin_key) if admin_key else None
        self.cache_s = cache_s
        self._known: TTLCache[str, tuple[str, Principal]] = TTLCache(
            cache_size, cache_s, timer=time.monotonic
        )
        self._unknown: TTLCache[str, bool] = TTLCache(
            min(cache_size, UNKNOWN_CACHE_SIZE), cache_s, timer=time.monotonic
        )

    async def authenticate(self, token: str) -> Principal | None:
        if self._admin_hash and hmac.compare_digest(hash_secret(token), self._admin_hash):
            return Principal(key_id="env-admin", scope="admin", name="LEADFARM_ADMIN_KEY")
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "lf" or not parts[1] or not parts[2]:
            return None
        key_id, secret = parts[1], parts[2]
        if key_id in self._unknown:
            return None
        cached = self._known.get(key_id)
        if cached is None:
            async with self.unit.read() as conn:
                row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
            if row is None or row.revoked_at is not None:
                self._unknown[key_id] = True
                return None
            principal = Principal(key_id=row.id, scope=row.scope, rep_id=row.rep_id, name=row.name)
            cached = self._known[key_id] = (row.secret_hash, principal)
        stored_hash, principal = cached
        if not hmac.compare_digest(hash_secret(secret), stored_hash):
            return None
        return principal

    @property
    def cached(self) -> int:
        """Key ids held in memory (known and unknown)."""
        return len(self._known) + len(self._unknown)

    def forget(self, key_id: str) -> None:
        self._known.pop(key_id, None)
        self._unknown.pop(key_id, None)

    async def create(
        self, name: str, scope: Scope, rep_id: str | None, now: datetime
    ) -> tuple[str, str]:
        """Store a new key; returns (key id, token). The token is never stored or shown again."""
        key_id, token, secret_hash = new_token()
        async with self.unit.transaction() as tx:
            await tx.conn.execute(
                api_keys.insert().values(
                    id=key_id,
                    name=name,
                    scope=scope,
                    rep_id=rep_id,
                    secret_hash=secret_hash,
                    created_at=now,
                )
            )
        return key_id, token

    async def has_active_admin(self) -> bool:
        async with self.unit.read() as conn:
            found = await conn.scalar(
                select(api_keys.c.id)
                .where(api_keys.c.scope == "admin", api_keys.c.revoked_at.is_(None))
                .limit(1)
            )
        return found is not None


class KeyRateLimiter:
    """A token bucket per API key, in this process: `per_second` sustained after a burst of
    `burst` requests. Authentication failures are not counted here (they never get a key)."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill)

    def take(self, key_id: str) -> float:
        """0 when allowed; otherwise the seconds to wait before the next request."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
        if tokens >= 1:
            self._buckets[key_id] = (tokens - 1, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (1 - tokens) / self.per_second


# Declares the scheme in OpenAPI; the token itself is checked by `require`.
_bearer = HTTPBearer(auto_error=False, description="A Leadfarm API key: lf_<id>_<secret>")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


SCOPES_ATTRIBUTE = "leadfarm_scopes"
"""Set on every dependency `require` makes: the scopes a route admits, so a test can walk
every route and check that each declares one (tests/integration/test_route_scopes.py)."""


def require(
    *scopes: Scope,
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Principal]]:
    """A dependency admitting keys whose scope covers any of `scopes`. A key over its rate
    limit (`app.state.key_limiter`, when the app has one) is answered 429."""

    async def dependency(request: Request, credentials: BearerCredentials) -> Principal:
        token = credentials.credentials.strip() if credentials else None
        if not token:
            raise Problem(
                401,
                "Send an API key as 'Authorization: Bearer <key>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        store: KeyStore = request.app.state.key_store
        principal = await store.authenticate(token)
        if principal is None:
            raise Problem(
                401,
                "The API key is unknown or revoked.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if not any(principal.can(s) for s in scopes):
            raise Problem(
                403,
                f"This route needs a key with scope {' or '.join(scopes)}; "
                f"yours has scope {principal.scope}.",
            )
        limiter: KeyRateLimiter | None = getattr(request.app.state, "key_limiter", None)
        wait = limiter.take(principal.key_id) if limiter is not None else 0.0
        if wait:
            seconds = str(max(1, math.ceil(wait)))
            raise Problem(
                429,
                f"Too many requests with this API key; retry after {seconds} s.",
                headers={"Retry-After": seconds},
            )
        return principal

    setattr(dependency, SCOPES_ATTRIBUTE, scopes)
    return dependency


# Route parameters that admit a key of the given scope (or one that implies it).
IngestOrRepKey = Annotated[Principal, Depends(require("ingest", "rep"))]
EngagementOrManagerKey = Annotated[Principal, Depends(require("engagement", "manager"))]
RepKey = Annotated[Principal, Depends(require("rep"))]
ManagerKey = Annotated[Principal, Depends(require("manager"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scope: Scope
    rep_id: str | None = Field(None, max_length=64, description="Required for rep keys")

    _no_control_characters = field_validator("*")(refuse_control_characters)


class KeyOut(BaseModel):
    id: str
    name: str
    scope: Scope
    rep_id: str | None
    created_at: datetime
    revoked_at: datetime | None = None


class KeyCreated(KeyOut):
    key: str = Field(description="The API key. It is shown once and never stored.")


def admin_router() -> APIRouter:
    router = APIRouter(prefix="/admin/v1", tags=["admin"])

    @router.post("/keys", status_code=201, response_model=KeyCreated)
    async def create_key(body: KeyIn, request: Request, _: AdminKey) -> KeyCreated:
        if body.scope == "rep" and not body.rep_id:
            raise Problem(
                422,
                "A rep key must name the rep it belongs to.",
                errors=[
                    {"field": "rep_id", "pointer": "/rep_id", "message": "required for scope rep"}
                ],
            )
        store: KeyStore = request.app.state.key_store
        now = store.unit.clock.now()
        key_id, token = await store.create(body.name, body.scope, body.rep_id, now)
        return KeyCreated(
            id=key_id,
            name=body.name,
            scope=body.scope,
            rep_id=body.rep_id,
            created_at=now,
            key=token,
        )

    @router.get("/keys", response_model=list[KeyOut])
    async def list_keys(request: Request, _: AdminKey) -> list[KeyOut]:
        store: KeyStore = request.app.state.key_store
        async with store.unit.read() as conn:
            rows = (await conn.execute(select(api_keys).order_by(api_keys.c.created_at))).all()
        return [
            KeyOut(
                id=r.id,
                name=r.name,
                scope=r.scope,
                rep_id=r.rep_id,
                created_at=r.created_at,
                revoked_at=r.revoked_at,
            )
            for r in rows
        ]

    @router.delete("/keys/{key_id}", status_code=204)
    async def revoke_key(key_id: str, request: Request, _: AdminKey) -> None:
        store: KeyStore = request.app.state.key_store
        async with store.unit.transaction() as tx:
            result = await tx.conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=tx.now())
            )
        if result.rowcount == 0:
            raise Problem(404, f"There is no active API key with id {key_id!r}.")
        store.forget(key_id)

    return router
