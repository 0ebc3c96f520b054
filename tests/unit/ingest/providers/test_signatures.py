"""Every provider's authentication refuses a wrong signature and one of the wrong length,
accepts either value of a rotating secret, and compares in constant time
(`hmac.compare_digest`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from ingest.providers import PROVIDERS
from ingest.providers.base import Forbidden, Source, Unauthorized, WebhookRequest
from ingest.providers.hubspot import signed_uri

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
STAMP = str(int(NOW.timestamp() * 1000))
URL = "https://leads.example.com/ingest/v1/webhooks/src"
BODY = orjson.dumps({"email": "ada@example.com", "google_key": "KEY"})
OLD, NEW = "old-secret-value-0123456789", "new-secret-value-abcdefghij"


def _request(
    headers: dict[str, str] | None = None, url: str = URL, body: bytes = BODY
) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=url,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query=dict(parse_qsl(urlsplit(url).query)),
        body=body,
        content_type="application/json",
        received_at=NOW,
    )


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


# Each case: provider, the secret that authenticates, and a function from (that secret's
# value, a way to alter the presented signature) to the request the provider would send.
Alter = Callable[[str], str]
Case = tuple[str, str, Callable[[str, Alter], WebhookRequest]]


def _bearer(secret: str, alter: Alter) -> WebhookRequest:
    return _request({"Authorization": f"Bearer {alter(secret)}"})


def _unbounce(secret: str, alter: Alter) -> WebhookRequest:
    return _request(url=f"{URL}?token={alter(secret)}")


def _typeform(secret: str, alter: Alter) -> WebhookRequest:
    return _request({"Typeform-Signature": "sha256=" + alter(_b64(secret, BODY))})


def _webflow(secret: str, alter: Alter) -> WebhookRequest:
    digest = _hex(secret, f"{STAMP}:".encode() + BODY)
    return _request({"x-webflow-timestamp": STAMP, "x-webflow-signature": alter(digest)})


def _hubspot(secret: str, alter: Alter) -> WebhookRequest:
    digest = _b64(secret, b"POST" + signed_uri(URL).encode() + BODY + STAMP.encode())
    return _request({"X-HubSpot-Request-Timestamp": STAMP, "X-HubSpot-Signature-v3": alter(digest)})


def _meta(secret: str, alter: Alter) -> WebhookRequest:
    return _request({"X-Hub-Signature-256": "sha256=" + alter(_hex(secret, BODY))})


def _linkedin(secret: str, alter: Alter) -> WebhookRequest:
    return _request({"X-LI-Signature": alter(_hex(secret, b"hmacsha256=" + BODY))})


def _google_ads(secret: str, alter: Alter) -> WebhookRequest:
    return _request(body=orjson.dumps({"lead_id": "1", "google_key": alter(secret)}))


CASES: list[Case] = [
    ("zapier", "token", _bearer),
    ("gravity-forms", "token", _bearer),
    ("unbounce", "token", _unbounce),
    ("typeform", "secret", _typeform),
    ("webflow", "secret", _webflow),
    ("hubspot", "client_secret", _hubspot),
    ("meta", "app_secret", _meta),
    ("linkedin", "client_secret", _linkedin),
    ("google-ads", "google_key", _google_ads),
]


def _source(provider: str, secret: str, values: tuple[str, ...]) -> Source:
    others = {
        name: ("other-secret",) for name in PROVIDERS[provider].required_secrets if name != secret
    }
    return Source(
        name="src",
        provider=provider,
        secrets={secret: values, **others},
        settings={},
        api_base_url=None,
        source_class="marketing",
        campaign=None,
    )


def _flip(value: str) -> str:
    """Same length, last character changed (still a plausible digest character)."""
    last = value[-1]
    return value[:-1] + ("A" if last != "A" else "B")


def test_every_provider_with_a_secret_is_covered() -> None:
    covered = {case[0] for case in CASES}
    assert covered | {"form"} == set(PROVIDERS)


@pytest.mark.parametrize(("provider", "secret", "make"), CASES, ids=[c[0] for c in CASES])
def test_a_wrong_signature_and_one_of_the_wrong_length_are_refused(
    provider: str, secret: str, make: Callable[[str, Alter], WebhookRequest]
) -> None:
    adapter = PROVIDERS[provider]
    source = _source(provider, secret, (NEW,))
    adapter.verify(make(NEW, lambda s: s), source)  # the genuine one passes
    for alter in (_flip, lambda s: s[:-4], lambda s: s + "00", lambda s: s[: len(s) // 2]):
        with pytest.raises(Unauthorized):
            adapter.verify(make(NEW, alter), source)
    with pytest.raises(Unauthorized):
        adapter.verify(make("not-the-secret", lambda s: s), source)


@pytest.mark.parametrize(("provider", "secret", "make"), CASES, ids=[c[0] for c in CASES])
def test_both_values_of_a_rotating_secret_verify_and_only_they(
    provider: str, secret: str, make: Callable[[str, Alter], WebhookRequest]
) -> None:
    adapter = PROVIDERS[provider]
    rotating = _source(provider, secret, (OLD, NEW))
    adapter.verify(make(OLD, lambda s: s), rotating)
    adapter.verify(make(NEW, lambda s: s), rotating)
    retired = replace(rotating, secrets={**rotating.secrets, secret: (NEW,)})
    with pytest.raises(Unauthorized):
        adapter.verify(make(OLD, lambda s: s), retired)


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


@pytest.mark.parametrize(("provider", "secret", "make"), CASES, ids=[c[0] for c in CASES])
def test_signatures_are_compared_in_constant_time_on_bytes(
    provider: str,
    secret: str,
    make: Callable[[str, Alter], WebhookRequest],
    compare_calls: list[tuple[bytes, bytes]],
) -> None:
    """Every value of the secret is compared (no early exit tells which one matched), with
    hmac.compare_digest on two bytes objects."""
    with pytest.raises(Unauthorized):
        PROVIDERS[provider].verify(make(OLD, _flip), _source(provider, secret, (OLD, NEW)))
    assert len(compare_calls) >= 2
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in compare_calls)


def test_the_form_provider_has_no_secret_but_checks_the_origin_when_told() -> None:
    adapter = PROVIDERS["form"]
    source = replace(
        _source("form", "none", ()), settings={"allowed_origins": ["https://www.example.com"]}
    )
    adapter.verify(_request({"Origin": "https://www.example.com"}), source)
    for origin in ("https://www.example.com.evil.test", "https://example.com", ""):
        with pytest.raises(Forbidden):
            adapter.verify(_request({"Origin": origin} if origin else {}), source)
