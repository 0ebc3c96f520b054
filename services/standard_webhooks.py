"""Signing outbound webhooks as the Standard Webhooks specification says: one scheme for
everything Leadfarm posts to other people's servers (the router's webhooks to reps'
tools, nurture's emails to an email service provider).

Each request carries `webhook-id` (the message id: the same on every retry, the
receiver's idempotency key), `webhook-timestamp` (Unix seconds of this attempt) and
`webhook-signature` (`v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed
with the base64-decoded part of a `whsec_` secret). A receiver verifies it with any
Standard Webhooks library.

The HMAC is the `standardwebhooks` package's (the specification authors' own Python
library, no dependencies): receivers verify with the same code, so what we send and what
they check cannot drift apart. This module adds what the package leaves to its callers:
making and checking secrets, the three headers, and verifying a webhook Leadfarm receives
against the time it was received (the package's `verify` reads the wall clock, and has a
fixed five-minute window).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = (24, 64)  # the specification's bounds for the decoded key


def new_secret() -> str:
    """A fresh `whsec_` secret of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(secret: str) -> str:
    """`secret` if it is a usable Standard Webhooks secret; ValueError saying why not."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a Standard Webhooks secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the part after {SECRET_PREFIX!r} must be base64") from None
    low, high = SECRET_BYTES
    if not low <= len(key) <= high:
        raise ValueError(f"the key must be {low} to {high} bytes (it is {len(key)})")
    return secret


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt."""
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


class BadSignature(Exception):
    """A received webhook whose Standard Webhooks headers are missing, stale or do not
    match; the message says which, never the secret."""


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    received_at: datetime,
    max_skew_s: int,
) -> str:
    """Check a received webhook's three headers (lower-case names) against `secret`: the
    timestamp within `max_skew_s` of `received_at`, and a `v1` signature among those the
    header lists (space-separated) that matches. Returns the message id; raises
    `BadSignature` saying what is wrong."""
    msg_id = headers.get("webhook-id", "").strip()
    timestamp = headers.get("webhook-timestamp", "").strip()
    offered = headers.get("webhook-signature", "").split()
    missing = [
        name
        for name, value in (
            ("webhook-id", msg_id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", offered),
        )
        if not value
    ]
    if missing:
        raise BadSignature(f"the Standard Webhooks header(s) {', '.join(missing)} are missing")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise BadSignature("webhook-timestamp is not a time in Unix seconds")
    skew = received_at.timestamp() - int(timestamp)
    if abs(skew) > max_skew_s:
        raise BadSignature(
            f"the request expired: webhook-timestamp is {int(abs(skew))} s away from the time "
            f"it was received, and more than {max_skew_s} s is refused (a replay, or a wrong "
            "clock)"
        )
    expected = sign(secret, msg_id, int(timestamp), body).encode()
    # Every offered signature is compared (no early exit), each in constant time.
    matched = False
    for signature in offered:
        matched |= hmac.compare_digest(signature.encode(), expected)
    if not matched:
        raise BadSignature(
            "no v1 signature in webhook-signature matches: sign 'v1,' + base64 of HMAC-SHA256 "
            "over '{webhook-id}.{webhook-timestamp}.{body}', keyed with the base64-decoded part "
            "of the secret after 'whsec_'"
        )
    return msg_id
