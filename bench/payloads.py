"""The webhooks the benchmark sends: real provider formats, signed the way each provider
signs, for synthetic people that the default qualifier finds sales-ready.

Four sources are driven: `typeform` (HMAC-SHA256 of the body, base64), `webflow` (hex
HMAC-SHA256 of `timestamp:body`), `hubspot` (a workflow webhook, v3 signature: base64
HMAC-SHA256 of method + URI + body + timestamp) and the plain HTML `form` (no secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import orjson

PROVIDERS: tuple[str, ...] = ("typeform", "webflow", "hubspot", "form")
SECRETS: dict[str, dict[str, str]] = {
    "typeform": {"secret": "bench-typeform-secret-0123456789"},
    "webflow": {"secret": "bench-webflow-secret-0123456789"},
    "hubspot": {"client_secret": "bench-hubspot-secret-0123456789"},
    "form": {},
}


def source_name(provider: str) -> str:
    return f"bench-{provider}"


@dataclass(frozen=True)
class Person:
    """One synthetic person; `key` is their normalised email, the lead's identity."""

    index: int
    run: str

    @property
    def email(self) -> str:
        return f"p{self.index}.{self.run}@co{self.index % 97}.example"

    @property
    def key(self) -> str:
        return self.email.lower()

    def fields(self) -> dict[str, str]:
        return {
            "email": self.email,
            "first_name": "Dana",
            "last_name": f"Lee{self.index}",
            "company": f"Company {self.index % 97} GmbH",
            "country": "DE",
            "timeframe_days": "30",
            "asked_to_be_contacted": "yes",
        }


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery: which provider, which person, and the provider's own id of
    the submission (the same id again is a repeated delivery)."""

    provider: str
    person: Person
    external_id: str


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]


_last_stamp_ms = 0


def _fresh_stamp() -> str:
    """A signing time in milliseconds, later than any before it in this process. A repeated
    delivery is a provider's retry, signed anew: two copies signed in the same millisecond
    would carry the same signature, which ingest rightly refuses as a replay (409)."""
    global _last_stamp_ms
    _last_stamp_ms = max(int(time.time() * 1000), _last_stamp_ms + 1)
    return str(_last_stamp_ms)


def _hmac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def build(delivery: Delivery, base_url: str) -> Request:
    """The signed HTTP request for a delivery, signed now (timestamps are fresh)."""
    provider = delivery.provider
    path = f"/ingest/v1/webhooks/{source_name(provider)}"
    fields = delivery.person.fields()
    if provider == "typeform":
        answers = [
            {
                "type": "text",
                "text": value,
                "field": {"id": f"f{i}", "ref": name, "type": "short_text"},
            }
            for i, (name, value) in enumerate(fields.items())
        ]
        body = orjson.dumps(
            {
                "event_id": delivery.external_id,
                "event_type": "form_response",
                "form_response": {"token": delivery.external_id, "answers": answers},
            }
        )
        digest = base64.b64encode(_hmac(SECRETS["typeform"]["secret"], body)).decode()
        return Request(
            path,
            body,
            {"content-type": "application/json", "typeform-signature": f"sha256={digest}"},
        )
    if provider == "webflow":
        body = orjson.dumps(
            {
                "triggerType": "form_submission",
                "payload": {"name": "Contact", "id": delivery.external_id, "data": fields},
            }
        )
        stamp = _fresh_stamp()
        signature = _hmac(SECRETS["webflow"]["secret"], f"{stamp}:".encode() + body).hex()
        return Request(
            path,
            body,
            {
                "content-type": "application/json",
                "x-webflow-timestamp": stamp,
                "x-webflow-signature": signature,
            },
        )
    if provider == "hubspot":
        properties = {
            "email": fields["email"],
            "firstname": fields["first_name"],
            "lastname": fields["last_name"],
            "company": fields["company"],
            "country": fields["country"],
            "timeframe_days": fields["timeframe_days"],
            "asked_to_be_contacted": fields["asked_to_be_contacted"],
        }
        body = orjson.dumps(
            {"hs_object_id": delivery.external_id, "portalId": "4242", **properties}
        )
        stamp = _fresh_stamp()
        message = b"POST" + (base_url + path).encode() + body + stamp.encode()
        signature = base64.b64encode(_hmac(SECRETS["hubspot"]["client_secret"], message)).decode()
        return Request(
            path,
            body,
            {
                "content-type": "application/json",
                "x-hubspot-request-timestamp": stamp,
                "x-hubspot-signature-v3": signature,
            },
        )
    if provider == "form":
        body = urlencode(fields).encode()
        return Request(path, body, {"content-type": "application/x-www-form-urlencoded"})
    raise ValueError(f"unknown provider {provider!r}")
