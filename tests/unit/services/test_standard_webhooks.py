"""The chassis's Standard Webhooks signing, which the router's webhooks and nurture's
webhook sender both use, checked against the scheme's published test vector and verified
the way a receiver does (the `standardwebhooks` reference library's `verify`)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.standard_webhooks import (
    BadSignature,
    check_secret,
    new_secret,
    sign,
    signed_headers,
    verify,
)

# The sign example of the Standard Webhooks specification's repository
# (github.com/standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py,
# `test_sign_function`; the other libraries' tests use the same values): a known secret,
# message id, timestamp and payload, and the signature they must give.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_PAYLOAD = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
# The same repository's verify tests pass several signatures in one header, the valid one
# among wrong ones and unknown versions; this is the wrong one they use.
WRONG_SIGNATURE = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="


def test_the_published_sign_vector() -> None:
    signed = sign(VECTOR_SECRET, VECTOR_MSG_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD)
    assert signed == VECTOR_SIGNATURE
    headers = signed_headers(VECTOR_SECRET, VECTOR_MSG_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD)
    assert headers == {
        "webhook-id": VECTOR_MSG_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }


def test_a_receiver_verifies_what_we_sign_and_nothing_else() -> None:
    now = int(time.time())
    headers = signed_headers(VECTOR_SECRET, VECTOR_MSG_ID, now, VECTOR_PAYLOAD)
    receiver = Webhook(VECTOR_SECRET)
    assert receiver.verify(VECTOR_PAYLOAD, headers) == {"test": 2432232314}

    several = f"v1,{WRONG_SIGNATURE} v2,{WRONG_SIGNATURE} {headers['webhook-signature']}"
    assert receiver.verify(VECTOR_PAYLOAD, {**headers, "webhook-signature": several})

    for changed in (
        {**headers, "webhook-signature": f"v1,{WRONG_SIGNATURE}"},
        {**headers, "webhook-id": "msg_other"},
        {**headers, "webhook-timestamp": str(now - 3600)},  # outside the 5-minute tolerance
    ):
        with pytest.raises(WebhookVerificationError):
            receiver.verify(VECTOR_PAYLOAD, changed)
    with pytest.raises(WebhookVerificationError):
        receiver.verify(b'{"test": 2432232315}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(VECTOR_PAYLOAD, headers)


def test_new_secrets_are_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert check_secret(secret) == secret
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret != new_secret()
    assert check_secret(VECTOR_SECRET) == VECTOR_SECRET  # 24 bytes, the least allowed


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("s3cret", "starts with 'whsec_'"),
        ("whsec_not base64!", "must be base64"),
        ("whsec_" + base64.b64encode(b"x" * 16).decode(), "24 to 64 bytes"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 bytes"),
    ],
)
def test_unusable_secrets_are_refused_saying_why(secret: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_secret(secret)


def test_a_received_webhook_is_verified_against_the_time_it_was_received() -> None:
    headers = signed_headers(VECTOR_SECRET, VECTOR_MSG_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD)
    at = datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC)
    assert verify(VECTOR_SECRET, headers, VECTOR_PAYLOAD, at, 300) == VECTOR_MSG_ID
    several = {**headers, "webhook-signature": f"v1,{WRONG_SIGNATURE} v2,x {VECTOR_SIGNATURE}"}
    assert verify(VECTOR_SECRET, several, VECTOR_PAYLOAD, at + timedelta(seconds=299), 300)
    with pytest.raises(BadSignature, match="expired"):
        verify(VECTOR_SECRET, headers, VECTOR_PAYLOAD, at + timedelta(seconds=301), 300)
    with pytest.raises(BadSignature, match="expired"):
        verify(VECTOR_SECRET, headers, VECTOR_PAYLOAD, at - timedelta(seconds=301), 300)
    with pytest.raises(BadSignature, match="matches"):
        verify(VECTOR_SECRET, headers, VECTOR_PAYLOAD + b" ", at, 300)
    with pytest.raises(BadSignature, match="matches"):
        verify(new_secret(), headers, VECTOR_PAYLOAD, at, 300)
    wrong = {**headers, "webhook-signature": f"v1,{WRONG_SIGNATURE}"}
    with pytest.raises(BadSignature, match="matches"):
        verify(VECTOR_SECRET, wrong, VECTOR_PAYLOAD, at, 300)
    with pytest.raises(BadSignature, match="webhook-id, webhook-signature"):
        verify(VECTOR_SECRET, {"webhook-timestamp": "1"}, VECTOR_PAYLOAD, at, 300)
    with pytest.raises(BadSignature, match="Unix seconds"):
        verify(VECTOR_SECRET, {**headers, "webhook-timestamp": "1e9"}, VECTOR_PAYLOAD, at, 300)
