"""The consent rule, the decaying engagement score, and signed links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nurture.consent import decide, email_hash
from nurture.scoring import score
from nurture.signing import CLICK, UNSUBSCRIBE, Signer


@pytest.mark.parametrize(
    ("kwargs", "basis", "reason"),
    [
        ({"profile_consent": True}, "opt_in", "opted in when the lead was captured"),
        ({"profile_consent": False}, None, "declined email"),
        ({"profile_consent": None}, None, "no consent basis recorded"),
        ({"profile_consent": None, "legitimate_interest": True}, "legitimate_interest", "track"),
        ({"profile_consent": False, "legitimate_interest": True}, None, "declined"),
        ({"profile_consent": True, "suppressed": "unsubscribed"}, None, "suppressed"),
        ({"profile_consent": True, "explicit": "withdrawn"}, None, "withdrawn"),
        ({"profile_consent": False, "explicit": "opt_in"}, "opt_in", "consent API"),
        ({"profile_consent": True, "has_email": False}, None, "no email address"),
    ],
)
def test_no_email_without_a_consent_basis(
    kwargs: dict[str, object], basis: str | None, reason: str
) -> None:
    values: dict[str, object] = {
        "has_email": True,
        "suppressed": None,
        "explicit": None,
        "legitimate_interest": False,
    }
    decision = decide(**{**values, **kwargs})  # type: ignore[arg-type]
    assert decision.basis == basis
    assert reason in decision.reason
    assert decision.may_email is (basis is not None)


def test_addresses_are_hashed_normalised() -> None:
    assert email_hash(" Dana.Lee@ACME.example ") == email_hash("dana.lee@acme.example")
    assert len(email_hash("a@b.c")) == 64


def test_the_score_halves_every_half_life() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert score([(now, 10.0)], now, 30) == 10.0
    assert score([(now - timedelta(days=30), 10.0)], now, 30) == 5.0
    assert score([(now - timedelta(days=60), 10.0), (now, 3.0)], now, 30) == 5.5
    assert score([(now + timedelta(days=1), 4.0)], now, 30) == 4.0, "never grows with age"
    assert score([], now, 30) == 0


def test_signed_tokens_resist_tampering_and_never_pass_for_another_purpose() -> None:
    signer = Signer(b"k" * 32)
    token = signer.sign(UNSUBSCRIBE, {"h": "abc", "l": "lead-1"})
    assert signer.verify(UNSUBSCRIBE, token) == {"h": "abc", "l": "lead-1"}
    assert signer.verify(CLICK, token) is None
    assert Signer(b"j" * 32).verify(UNSUBSCRIBE, token) is None
    body, _, mac = token.partition(".")
    forged = Signer(b"j" * 32).sign(UNSUBSCRIBE, {"h": "other", "l": "lead-1"})
    assert signer.verify(UNSUBSCRIBE, forged.partition(".")[0] + "." + mac) is None
    assert signer.verify(UNSUBSCRIBE, body) is None
    assert signer.verify(UNSUBSCRIBE, "not.a-token!") is None
    assert signer.verify(UNSUBSCRIBE, "") is None
    with pytest.raises(ValueError, match="16 bytes"):
        Signer(b"short")
