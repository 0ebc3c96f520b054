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
making and checking secrets, and the three headers.
"""

from __future__ import annotations

import base64
import binascii
import secrets
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
