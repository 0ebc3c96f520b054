"""The email consent rule: no email without a recorded consent basis.

Bases that count, in order:

1. The suppression list wins over everything: an unsubscribe, a hard bounce, a complaint,
   an erasure or a manager's entry stops every email to that address.
2. An explicit record made through `POST /nurture/v1/consents` (a manager recording consent
   given or withdrawn elsewhere, with its evidence): `opt_in` counts, `withdrawn` does not.
3. The lead's own answer at capture, `LeadProfile.consent_email`: `True` is an explicit
   opt-in and counts; `False` is a refusal and never counts.
4. No answer at all (`None`) counts only on a track whose `legitimate_interest` is true, a
   setting the business turns on after assessing it for that track's audience. It is off
   on every shipped track.

Addresses are kept as SHA-256 hashes of the normalised address in the consent and
suppression tables, so the suppression list outlives an erasure without keeping the
address itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

Basis = Literal["opt_in", "legitimate_interest"]
ExplicitBasis = Literal["opt_in", "withdrawn"]


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


@dataclass(frozen=True)
class ConsentDecision:
    basis: Basis | None
    reason: str

    @property
    def may_email(self) -> bool:
        return self.basis is not None


def decide(
    *,
    has_email: bool,
    suppressed: str | None,
    explicit: ExplicitBasis | None,
    profile_consent: bool | None,
    legitimate_interest: bool,
) -> ConsentDecision:
    if not has_email:
        return ConsentDecision(None, "no email address")
    if suppressed is not None:
        return ConsentDecision(None, f"suppressed ({suppressed})")
    if explicit == "opt_in":
        return ConsentDecision("opt_in", "opted in (recorded through the consent API)")
    if explicit == "withdrawn":
        return ConsentDecision(None, "consent withdrawn")
    if profile_consent is True:
        return ConsentDecision("opt_in", "opted in when the lead was captured")
    if profile_consent is False:
        return ConsentDecision(None, "declined email when the lead was captured")
    if legitimate_interest:
        return ConsentDecision("legitimate_interest", "legitimate interest (track setting)")
    return ConsentDecision(None, "no consent basis recorded")
