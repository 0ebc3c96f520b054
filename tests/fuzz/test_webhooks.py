"""Property-based fuzzing of the routes that read their body raw, which the OpenAPI document
does not describe (so schemathesis never sends them a body): the provider webhooks (each
provider posts its own format) and the generic lead API (`POST /ingest/v1/leads` and
`/leads:batch`).

One source of every provider is configured; hypothesis posts random bodies (bytes, JSON
shaped like the providers' payloads, form fields, multipart parts), random content types
(with charsets and boundaries) and random headers to every webhook route, about half of
them correctly authenticated so that they get past the signature check to the parsers, and
sends random verification (GET) requests. Whatever is sent, the answer is never a server
error, and a refusal is RFC 9457 problem+json. Bounded and derandomised.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.providers import PROVIDERS
from ingest.providers.hubspot import signed_uri
from tests.backends import ADMIN
from tests.fuzz.harness import BASE_URL, IMPORT_WARNINGS, Live, live_app, problem_errors

pytestmark = [
    pytest.mark.fuzz,
    *(pytest.mark.filterwarnings(f"ignore:{m}:DeprecationWarning") for m in IMPORT_WARNINGS),
]

SECRET = "fuzz-secret-0123456789abcdef"
# Every provider's required and optional secrets, all the same value.
SOURCES: dict[str, dict[str, Any]] = {
    f"fz-{name}": {
        "provider": name,
        "secrets": dict.fromkeys((*p.required_secrets, *p.optional_secrets), SECRET),
    }
    for name, p in PROVIDERS.items()
}
NAMES = sorted(SOURCES)

# Names that providers' payloads use, so that generated JSON reaches the parsers' branches.
KEYS = [
    "id",
    "email",
    "phone",
    "Email",
    "name",
    "first_name",
    "1.3",
    "2",
    "lead_id",
    "google_key",
    "user_column_data",
    "column_id",
    "column_name",
    "string_value",
    "form_id",
    "is_test",
    "campaign_id",
    "event_type",
    "form_response",
    "answers",
    "field",
    "type",
    "token",
    "hidden",
    "definition",
    "fields",
    "ref",
    "title",
    "text",
    "choice",
    "choices",
    "labels",
    "triggerType",
    "payload",
    "data",
    "_id",
    "object",
    "entry",
    "changes",
    "value",
    "leadgen_id",
    "page_id",
    "leadGenFormResponse",
    "leadAction",
    "leadGenForm",
    "owner",
    "subscriptionType",
    "objectId",
    "portalId",
    "objectTypeId",
    "properties",
    "vid",
    "portal-id",
    "source_url",
    "timeframe",
    "employees",
    "country",
    "utm_source",
    "gclid",
]
VALUES = [
    "page",
    "leadgen",
    "form_submission",
    "form_response",
    "CREATED",
    "DELETED",
    "LEAD_ACTION",
    "contact.creation",
    "contact.privacyDeletion",
    "EMAIL",
    "PHONE_NUMBER",
    "a@b.example",
    "+34 912 345 678",
    "urn:li:leadGenFormResponse:1",
    SECRET,
    "0-1",
    "²",
    "%ZZ",
    "\x00",
    "x" * 300,
]
CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
    "application/problem+json",
    "",
]
CHARSETS = ["utf-8", "iso-8859-1", "utf-16", "x-unknown", "base64", "rot13", "idna", '"', ""]
HEADERS = [
    "authorization",
    "x-li-signature",
    "x-hub-signature-256",
    "typeform-signature",
    "x-hubspot-signature-v3",
    "x-hubspot-request-timestamp",
    "x-webflow-signature",
    "x-webflow-timestamp",
    "origin",
    "referer",
    "content-encoding",
    "traceparent",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(VALUES),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=12))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=25,
)
field_text = st.one_of(st.sampled_from(VALUES), st.text(max_size=20))
# Header values the HTTP client can send (no control or space characters to trim).
header_values = st.text(
    st.characters(max_codepoint=0x2FF, blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    max_size=40,
)


KIND_MEDIA = {
    "json": "application/json",
    "deep": "application/json",
    "form": "application/x-www-form-urlencoded",
    "multipart": "multipart/form-data",
}


@st.composite
def bodies(draw: st.DrawFn, provider: str | None = None) -> tuple[str, bytes]:
    """(content type, body): mostly of a type `provider` accepts, so that most bodies reach
    its parser."""
    kinds = ["json", "form", "multipart", "bytes", "deep"]
    if provider is not None and draw(st.integers(0, 9)) < 8:
        accepted = PROVIDERS[provider].content_types
        kinds = [
            k
            for k, media in KIND_MEDIA.items()
            if media in accepted and (k != "multipart" or len(accepted) > 1)
        ] or kinds
    kind = draw(st.sampled_from(kinds))
    charset = draw(st.sampled_from(CHARSETS))
    if kind == "json":
        return "application/json", orjson.dumps(draw(json_values))
    if kind == "deep":
        depth = draw(st.integers(min_value=20, max_value=1100))
        return (
            "application/json",
            b'{"email": "d@x.example", "x": ' + b"[" * depth + b"]" * depth + b"}",
        )
    if kind == "form":
        pairs = draw(
            st.lists(
                st.tuples(st.one_of(st.sampled_from(KEYS), field_text), field_text), max_size=6
            )
        )
        raw = (
            urlencode(pairs, quote_via=quote)
            if draw(st.booleans())
            else "&".join(f"{k}={v}" for k, v in pairs)
        )
        if draw(st.booleans()):
            raw += "&data.json=" + quote(orjson.dumps(draw(json_values)).decode())
        type_ = "application/x-www-form-urlencoded"
        return (f"{type_}; charset={charset}" if charset else type_), raw.encode(
            "utf-8", "surrogatepass"
        )
    if kind == "multipart":
        parts = draw(
            st.lists(
                st.tuples(st.sampled_from(KEYS), field_text, st.sampled_from(CHARSETS)), max_size=4
            )
        )
        chunks = []
        for name, value, part_charset in parts:
            header = f'Content-Disposition: form-data; name="{name}"\r\n'
            if part_charset:
                header += f"Content-Type: text/plain; charset={part_charset}\r\n"
            chunks.append(
                b"--fz\r\n"
                + header.encode()
                + b"\r\n"
                + value.encode("utf-8", "surrogatepass")
                + b"\r\n"
            )
        boundary = draw(st.sampled_from(["; boundary=fz"] * 4 + ["", "; boundary="]))
        return "multipart/form-data" + boundary, b"".join(chunks) + b"--fz--\r\n"
    return draw(st.sampled_from(CONTENT_TYPES)), draw(st.binary(max_size=200))


def authenticate(provider: str, url: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """The headers (and body) a genuine delivery of `body` would carry."""
    key = SECRET.encode()
    stamp = str(int(time.time() * 1000))
    if provider in ("zapier", "gravity-forms"):
        return {"authorization": f"Bearer {SECRET}"}, body
    if provider == "typeform":
        digest = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        return {"typeform-signature": f"sha256={digest}"}, body
    if provider == "meta":
        return {
            "x-hub-signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        }, body
    if provider == "linkedin":
        digest = hmac.new(key, b"hmacsha256=" + body, hashlib.sha256).hexdigest()
        return {"x-li-signature": digest}, body
    if provider == "webflow":
        digest = hmac.new(key, f"{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        return {"x-webflow-timestamp": stamp, "x-webflow-signature": digest}, body
    if provider == "hubspot":
        message = b"POST" + signed_uri(url).encode() + body + stamp.encode()
        digest = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        return {"x-hubspot-signature-v3": digest, "x-hubspot-request-timestamp": stamp}, body
    if provider == "google-ads":
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return {}, body
        if isinstance(parsed, dict):  # the key goes first, as text (orjson writes 254 levels)
            key_member = b'{"google_key": "' + SECRET.encode() + b'"'
            rest = body.strip()[1:].lstrip()
            return {}, key_member + (b"}" if rest.startswith(b"}") else b", " + rest)
    return {}, body


@contextmanager
def ingest_env() -> Iterator[None]:
    """No per-source rate limit (the fuzzer posts far faster than a provider), and no fetch
    worker round during the test (it would call the providers' real APIs)."""
    values = {
        "LEADFARM_INGEST_RATE_LIMIT_PER_SECOND": "1000000",
        "LEADFARM_INGEST_RATE_LIMIT_BURST": "1000000",
        "LEADFARM_INGEST_FETCH_POLL_INTERVAL_S": "3600",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with ingest_env(), live_app(Path(tmp_path_factory.mktemp("fuzz-webhooks"))) as running:
        for name, source in SOURCES.items():
            created = running.request("PUT", f"/ingest/v1/sources/{name}", json=source)
            assert created.status_code == 201, created.text
        yield running


FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def check(response: Any, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    assert not problem_errors(response), (what, problem_errors(response), response.text[:500])


@FUZZ
@given(
    name=st.sampled_from(NAMES),
    data=st.data(),
    genuine=st.booleans(),
    headers=st.dictionaries(st.sampled_from(HEADERS), header_values, max_size=3),
    query=st.sampled_from(["", "token=" + SECRET, "token=x", "hub.mode=subscribe"]),
)
def test_no_webhook_post_is_answered_with_a_server_error(
    live: Live,
    name: str,
    data: st.DataObject,
    genuine: bool,
    headers: dict[str, str],
    query: str,
) -> None:
    provider: str = SOURCES[name]["provider"]
    content_type, raw = data.draw(bodies(provider), label="body")
    if genuine and provider == "unbounce":
        query = f"token={SECRET}"  # Unbounce's secret is in the URL
    path = f"/ingest/v1/webhooks/{name}" + (f"?{query}" if query else "")
    sent = dict(headers)
    if genuine:
        auth, raw = authenticate(provider, BASE_URL + path, raw)
        sent |= auth
    if content_type:
        sent["content-type"] = content_type
    response = live.request("POST", path, headers=sent, data=raw)
    check(response, f"POST {path} {content_type} {raw[:200]!r} {sent}")
    if genuine and provider != "google-ads":  # its key is in the body, when that is an object
        # A genuine delivery gets past the signature check to the parser, or the fuzzing
        # would only ever test the signature checks.
        assert response.status_code != 401, (path, sent, raw[:200], response.text)


@settings(FUZZ, max_examples=40)
@given(
    name=st.sampled_from(NAMES),
    params=st.dictionaries(
        st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge", "challengeCode", "x"]),
        st.one_of(st.text(max_size=40), st.sampled_from([SECRET, "subscribe", "²"])),
        max_size=3,
    ),
)
def test_no_verification_request_is_answered_with_a_server_error(
    live: Live, name: str, params: dict[str, str]
) -> None:
    response = live.request("GET", f"/ingest/v1/webhooks/{name}", headers={}, params=params)
    check(response, f"GET {name} {params}")


LEAD_KEYS = [
    "email",
    "phone",
    "first_name",
    "last_name",
    "full_name",
    "company",
    "website",
    "country",
    "employees",
    "timeframe_days",
    "answers",
    "utm",
    "source",
    "source_class",
    "is_test",
    "product_interest",
    "asked_to_be_contacted",
    "consent_email",
    "campaign",
    "need",
]
lead_values = st.one_of(
    scalars, st.dictionaries(keys, scalars, max_size=3), st.lists(scalars, max_size=3)
)
leads = st.one_of(
    st.fixed_dictionaries(
        {"email": st.sampled_from(["a@b.example", "x", "", "²@b.example"])},
        optional={k: lead_values for k in LEAD_KEYS if k != "email"},
    ),
    json_values,
)


@settings(FUZZ, max_examples=60)
@given(
    batch=st.booleans(),
    body=st.one_of(
        leads.map(orjson.dumps),
        st.lists(leads, max_size=3).map(lambda items: orjson.dumps({"leads": items})),
        bodies().map(lambda typed: typed[1]),
    ),
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]),
    idempotency_key=st.one_of(st.none(), header_values),
)
def test_no_lead_post_is_answered_with_a_server_error(
    live: Live, batch: bool, body: bytes, content_type: str, idempotency_key: str | None
) -> None:
    path = "/ingest/v1/leads:batch" if batch else "/ingest/v1/leads"
    headers = {"content-type": content_type} if content_type else {}
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    response = live.request("POST", path, headers={**ADMIN, **headers}, data=body)
    check(response, f"POST {path} {headers} {body[:200]!r}")
