"""What a lead provider adapter is: how a provider proves a webhook is genuine, what its
payload means, and (for providers whose webhook only carries ids) how to fetch the lead.

An adapter is a module with one `Provider` subclass, registered in `ingest.providers`.
Everything but `fetch` is synchronous and pure: it gets the request as received (raw body,
headers, full URL) and the source's configuration, and returns what the webhook carried.
The webhook route does the rest (size and rate limits, storage, dedupe, merging, events),
so an adapter never touches the database.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from contracts.events import SourceClass
from services.controlchars import without_controls


@dataclass(frozen=True)
class WebhookRequest:
    """An inbound webhook exactly as received."""

    method: str
    url: str  # the full URL the provider called, query included (some sign it)
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    body: bytes
    content_type: str  # media type only, lower-case, e.g. "application/json"
    received_at: datetime

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Source:
    """A configured source: one provider, its secrets and settings. Secrets are tuples so
    that two values can be valid during a rotation."""

    name: str
    provider: str
    secrets: Mapping[str, tuple[str, ...]]
    settings: Mapping[str, Any]
    api_base_url: str | None
    source_class: SourceClass
    campaign: str | None

    def secret_values(self, name: str) -> tuple[str, ...]:
        return self.secrets.get(name, ())

    def secret(self, name: str) -> str:
        """The current value (the last one given) of a secret used to call out."""
        values = self.secret_values(name)
        if not values:
            raise ProviderError(f"source {self.name!r} has no secret {name!r}")
        return values[-1]


@dataclass(frozen=True)
class RawLead:
    """One lead as the provider gave it, before normalisation.

    `fields` maps the provider's field names (or question labels) to answers; the shared
    mapper (`ingest.mapping`) turns known names, the source's `field_map` and the names the
    adapter `recognised` into lead fields and keeps the rest as custom answers.

    Control characters are dropped here, from every name, answer and id, whichever adapter
    built the lead (webhook or fetch): a person's form cannot be asked to resend, and the
    lead is kept without them. (The JSON API refuses them instead: schemas.LeadIn.)
    """

    external_id: str | None
    fields: Mapping[str, str]
    is_test: bool = False
    utm: Mapping[str, str] = field(default_factory=dict)
    click_ids: Mapping[str, str] = field(default_factory=dict)
    consent_email: bool | None = None
    # Field names the adapter recognised in this lead (e.g. Gravity Forms' "2" holding an
    # email address): applied after the source's `field_map`, which always wins.
    recognised: Mapping[str, str] = field(default_factory=dict)
    # What would make the lead usable, said when it cannot be used (e.g. which field_map).
    hint: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "external_id", _clean_id(self.external_id))
        for name in ("fields", "utm", "click_ids", "recognised"):
            object.__setattr__(self, name, _clean_map(getattr(self, name)))


@dataclass(frozen=True)
class FetchRef:
    """A lead the webhook only named: fetched later from the provider's API."""

    external_id: str
    ref: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:  # control characters dropped, as in RawLead
        object.__setattr__(self, "external_id", without_controls(self.external_id))
        object.__setattr__(self, "ref", _clean_map(self.ref))


@dataclass(frozen=True)
class Reply:
    """What to answer the provider (a handshake, or the acknowledgement)."""

    status: int = 200
    body: bytes = b'{"status":"ok"}'
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplayGuard:
    """How to recognise a copy of a signed delivery, for providers whose signature covers a
    timestamp: the signature itself identifies the delivery (a genuine retry is signed anew
    with a new timestamp), and a copy must be refused for `window_s` after receipt (after
    that its timestamp is too old and the freshness check refuses it)."""

    signature: str
    header: str  # the header that carried it, named in the refusal
    window_s: int


@dataclass(frozen=True)
class Parsed:
    """What one webhook delivery carried."""

    leads: list[RawLead] = field(default_factory=list)
    fetches: list[FetchRef] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)  # external ids the provider erased
    honeypot: bool = False  # a bot filled the trap field: answer success, store nothing

    def __post_init__(self) -> None:  # control characters dropped, as in RawLead
        object.__setattr__(self, "deletions", [without_controls(d) for d in self.deletions])


def _clean_id(value: str | None) -> str | None:
    if value is None:
        return None
    return without_controls(value) or None  # an id of control characters only is no id


def _clean_map(values: Mapping[str, str]) -> dict[str, str]:
    """Names and values without control characters; a name that then repeats one before
    it keeps the first value."""
    cleaned: dict[str, str] = {}
    for name, value in values.items():
        cleaned.setdefault(
            without_controls(name), without_controls(value) if isinstance(value, str) else value
        )
    return cleaned


class ProviderError(Exception):
    """Base of the errors an adapter raises; each maps to an HTTP answer."""


class Unauthorized(ProviderError):
    """Missing or wrong signature, token or key (401). The message names what was wrong,
    never a secret."""


class BadPayload(ProviderError):
    """The body is not what the provider sends (400)."""


class Forbidden(ProviderError):
    """A handshake with the wrong verify token, or an origin not allowed (403)."""


class FetchFailed(ProviderError):
    """The provider's API did not answer usefully; the fetch is retried later."""


class Unusable(ProviderError):
    """The lead can never be used (deleted at the provider, not found): the delivery is
    recorded as rejected with this reason and not retried."""


class FieldMapSettings(BaseModel):
    """Settings of a mapped provider: `field_map` maps the provider's field names to
    Leadfarm's lead fields (email, phone, first_name, last_name, full_name, company,
    website, job_title, industry, employees, country, region, language, product_interest,
    timeframe_days, asked_to_be_contacted, has_budget, need, consent_email)."""

    model_config = ConfigDict(extra="forbid")

    field_map: dict[str, str] = Field(default_factory=dict)


class Provider(ABC):
    name: ClassVar[str]
    required_secrets: ClassVar[tuple[str, ...]] = ()
    optional_secrets: ClassVar[tuple[str, ...]] = ()
    content_types: ClassVar[tuple[str, ...]] = ("application/json",)
    needs_api_base_url: ClassVar[bool] = False
    default_api_base_url: ClassVar[str | None] = None
    settings_model: ClassVar[type[BaseModel]] = FieldMapSettings
    example: ClassVar[Any] = None
    """A body as the provider posts it, in its first content type (shown in the OpenAPI)."""

    def handshake(self, request: WebhookRequest, source: Source) -> Reply | None:
        """Answer a GET verification request; None means the provider has none (405)."""
        return None

    @abstractmethod
    def verify(self, request: WebhookRequest, source: Source) -> None:
        """Raise Unauthorized unless the request is genuinely from the provider."""

    @abstractmethod
    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        """What the delivery carried. Raise BadPayload when it is not the provider's format."""

    def replay_guard(self, request: WebhookRequest, source: Source) -> ReplayGuard | None:
        """For a verified request whose signature covers a timestamp: what identifies it, so
        that a re-sent copy is refused. None (the default) when the provider signs no time:
        a copy then only re-delivers leads that ingest's idempotency already absorbs."""
        return None

    def acknowledge(self, request: WebhookRequest, source: Source, parsed: Parsed) -> Reply:
        """The success answer, once everything in the delivery is stored."""
        return Reply()

    async def fetch(self, ref: FetchRef, source: Source, http: httpx.AsyncClient) -> RawLead:
        """Fetch a named lead. Raise FetchFailed to retry later, Unusable to give up."""
        raise Unusable(f"provider {self.name} does not fetch leads")

    def api_base(self, source: Source) -> str:
        base = source.api_base_url or self.default_api_base_url
        if not base:
            raise Unusable(f"source {source.name!r} has no api_base_url")
        return base.rstrip("/")


# --- helpers shared by adapters -----------------------------------------------------------


def hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, getattr(hashlib, digest)).hexdigest()


def hmac_b64(secret: str | bytes, message: bytes, digest: str = "sha256") -> str:
    import base64

    key = secret.encode() if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, message, getattr(hashlib, digest)).digest()).decode()


def matches_any(candidate: str | None, expected: Iterable[str]) -> bool:
    """Constant-time comparison against every currently valid value (rotation)."""
    if not candidate:
        return False
    found = False
    for value in expected:
        # No early exit: the time taken does not tell which value matched.
        found |= hmac.compare_digest(candidate.encode(), value.encode())
    return found


def require_signature(candidate: str | None, expected: Iterable[str], what: str) -> None:
    if not candidate:
        raise Unauthorized(f"the {what} is missing")
    if not matches_any(candidate, expected):
        raise Unauthorized(f"the {what} does not match")


DEFAULT_MAX_CLOCK_SKEW_S = 300
# ASCII digits only: str.isdigit() is also true of '²' and other characters int() refuses.
_MILLISECONDS = re.compile(r"[0-9]{1,16}")


def max_clock_skew_s(source: Source) -> int:
    """The tolerance window of a source whose provider signs a timestamp (the source's
    `max_clock_skew_s` setting, default 5 minutes)."""
    return int(source.settings.get("max_clock_skew_s") or DEFAULT_MAX_CLOCK_SKEW_S)


def require_fresh(timestamp: str, received_at: datetime, max_skew_s: int, header: str) -> None:
    """Refuse a signed request whose timestamp (in milliseconds) is more than `max_skew_s`
    older, or later, than its receipt: an old one may be replayed."""
    if not _MILLISECONDS.fullmatch(timestamp):
        raise Unauthorized(f"the {header} header is not a time in milliseconds")
    age_ms = received_at.timestamp() * 1000 - int(timestamp)
    if age_ms > max_skew_s * 1000:
        raise Unauthorized(
            f"the request expired: {header} is {int(age_ms // 1000)} s old and requests older "
            f"than {max_skew_s} s are refused (a replay, or a wrong clock)"
        )
    if -age_ms > max_skew_s * 1000:
        raise Unauthorized(
            f"{header} is {int(-age_ms // 1000)} s in the future; more than {max_skew_s} s "
            "is refused (check the server's clock)"
        )


MAX_JSON_DEPTH = 32
"""How deeply a provider's JSON may nest. Real payloads nest under ten levels; a deeper one
is refused before any adapter walks it (a walk 1,000 levels deep overflows the stack)."""

MAX_EXTERNAL_ID_LENGTH = 255
"""The longest provider lead id stored (the column is VARCHAR(255) on PostgreSQL)."""


def json_body(request: WebhookRequest) -> Any:
    return loads_json(request.body, "the body")


def loads_json(data: bytes | str, what: str) -> Any:
    """Parsed JSON, or BadPayload naming `what` when it is not JSON or nests deeper than
    MAX_JSON_DEPTH."""
    import orjson

    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadPayload(f"{what} is not valid JSON ({exc})") from exc
    if _may_nest_deeper(data, MAX_JSON_DEPTH) and _deeper_than(value, MAX_JSON_DEPTH):
        raise BadPayload(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _may_nest_deeper(data: bytes | str, limit: int) -> bool:
    """False when the text opens no more than `limit` arrays and objects in all: it cannot
    nest deeper, and the walk is skipped (a typical webhook opens a dozen or two)."""
    if isinstance(data, str):
        return data.count("[") + data.count("{") > limit
    return data.count(b"[") + data.count(b"{") > limit


def api_json(content: bytes) -> Any | None:
    """A provider API's answer as JSON, or None when it is not JSON or nests deeper than
    MAX_JSON_DEPTH (then nothing in it is used: walking it could overflow the stack)."""
    try:
        return loads_json(content, "the answer")
    except BadPayload:
        return None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def check_ids(parsed: Parsed) -> None:
    """Refuse a delivery naming a provider lead id longer than can be stored: cutting it would
    let two leads share one id (and the second be taken for a copy of the first)."""
    named = [lead.external_id for lead in parsed.leads if lead.external_id]
    named += [ref.external_id for ref in parsed.fetches] + list(parsed.deletions)
    for external_id in named:
        if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
            raise BadPayload(
                f"the lead id {external_id[:40]!r}... is {len(external_id)} characters long; "
                f"at most {MAX_EXTERNAL_ID_LENGTH} are accepted"
            )
