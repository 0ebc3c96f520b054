"""Signed tokens for links in emails: the unsubscribe link (works without logging in) and
tracked links (a click is an engagement; the token names its target, so the redirect is
never open). HMAC-SHA256 with the service's signing key; the purpose is part of what is
signed, so one kind of token never passes for another."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

UNSUBSCRIBE = "unsubscribe"
CLICK = "click"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the signing key must be at least 16 bytes")
        self._key = key

    def _mac(self, purpose: str, body: str) -> bytes:
        return hmac.new(self._key, f"{purpose}.{body}".encode(), hashlib.sha256).digest()

    def sign(self, purpose: str, payload: dict[str, Any]) -> str:
        body = _b64(orjson.dumps(payload))
        return f"{body}.{_b64(self._mac(purpose, body))}"

    def verify(self, purpose: str, token: str) -> dict[str, Any] | None:
        """The payload of a token this key signed for `purpose`, else None."""
        body, _, mac = token.partition(".")
        if not body or not mac or len(token) > 8192:
            return None
        try:
            given = _unb64(mac)
            if not hmac.compare_digest(given, self._mac(purpose, body)):
                return None
            payload = orjson.loads(_unb64(body))
        except (binascii.Error, ValueError, orjson.JSONDecodeError):
            return None
        return payload if isinstance(payload, dict) else None
