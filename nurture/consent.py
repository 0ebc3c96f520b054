"""Consent: no email without a recorded consent basis. The rule (`decide`, pure), the
basis for a lead read from the database (`Consent.check`), and the suppression list.

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

from contracts.events import LeadProfile
from nurture import metrics
from nurture.definitions import TrackDef
from nurture.errors import InvalidToken
from nurture.links import Links
from nurture.records import Basis, ExplicitBasis, Suppression, SuppressionReason
from nurture.repository import consents, messages
from nurture.signing import UNSUBSCRIBE
from services.db import Conn, Tx


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


@dataclass(frozen=True)
class ConsentCheck:
    decision: ConsentDecision
    email_hash: str | None
    suppressed: str | None
    """Why the address is on the suppression list, if it is."""


class Consent:
    """Consent and suppression in the database: the basis for emailing a lead, the
    suppression list, unsubscribes and consent recorded through the API."""

    def __init__(self, links: Links) -> None:
        self.links = links

    async def check(
        self, conn: Conn, profile: LeadProfile | None, track: TrackDef | None
    ) -> ConsentCheck:
        """The consent decision for emailing this lead on this track, the address hash and
        its suppression."""
        hashed = email_hash(profile.email) if profile and profile.email else None
        suppressed = await consents.suppression(conn, hashed) if hashed else None
        explicit = await consents.explicit_consent(conn, hashed) if hashed else None
        decision = decide(
            has_email=hashed is not None,
            suppressed=suppressed.reason if suppressed else None,
            explicit=explicit,
            profile_consent=profile.consent_email if profile else None,
            legitimate_interest=bool(track and track.legitimate_interest),
        )
        return ConsentCheck(decision, hashed, suppressed.reason if suppressed else None)

    async def suppress(
        self,
        tx: Tx,
        hashed: str,
        reason: SuppressionReason,
        detail: str | None,
        track: str | None,
        *,
        cancelled_because: str,
    ) -> int:
        """Put the address on the suppression list (a stronger reason replaces a weaker one)
        and cancel its queued emails, saying `cancelled_because`; returns how many."""
        await consents.suppress(tx, hashed, reason, detail, track, tx.now())
        return await messages.cancel_pending_messages(tx, cancelled_because, email_hash=hashed)

    async def unsubscribe(self, tx: Tx, token: str) -> str:
        """The one-click unsubscribe: suppress the address; returns the lead id."""
        signer = await self.links.signer(tx)
        payload = signer.verify(UNSUBSCRIBE, token) if signer else None
        if payload is None or not isinstance(payload.get("h"), str):
            raise InvalidToken("This unsubscribe link is not valid (it may have been cut short).")
        hashed, lead_id, track = payload["h"], str(payload.get("l", "")), payload.get("t")
        await self.suppress(
            tx,
            hashed,
            "unsubscribed",
            "the unsubscribe link in an email",
            track,
            cancelled_because="unsubscribed",
        )
        metrics.UNSUBSCRIBES.inc()
        return lead_id

    async def check_unsubscribe(self, conn: Conn, token: str) -> bool:
        signer = await self.links.signer(conn)
        return bool(signer and signer.verify(UNSUBSCRIBE, token))

    async def record(
        self, tx: Tx, email: str, basis: ExplicitBasis, evidence: str
    ) -> tuple[str, str | None]:
        """A manager records consent given or withdrawn elsewhere. A fresh opt-in lifts an
        unsubscribe (not a bounce, a complaint or an erasure); a withdrawal suppresses."""
        hashed = email_hash(email)
        await consents.put_consent(tx, hashed, basis, evidence, tx.now())
        if basis == "opt_in":
            await consents.unsuppress(tx, hashed, ["unsubscribed", "manual"])
        else:
            await self.suppress(
                tx,
                hashed,
                "unsubscribed",
                f"withdrawn: {evidence}",
                None,
                cancelled_because="consent withdrawn",
            )
        remaining = await consents.suppression(tx, hashed)
        return hashed, remaining.reason if remaining else None

    async def suppress_address(self, tx: Tx, email: str, detail: str | None) -> str:
        """A manager suppresses an address by hand."""
        hashed = email_hash(email)
        await self.suppress(
            tx, hashed, "manual", detail, None, cancelled_because="suppressed (manual)"
        )
        return hashed

    async def suppressions(self, conn: Conn, limit: int, offset: int) -> list[Suppression]:
        """The suppression list, newest first."""
        return await consents.list_suppressions(conn, limit, offset)

    async def suppression(self, conn: Conn, hashed: str) -> Suppression | None:
        return await consents.suppression(conn, hashed)

    async def unsuppress(self, tx: Tx, hashed: str) -> bool:
        """Lift a suppression, whatever its reason; False when the address was not listed."""
        return await consents.unsuppress(tx, hashed)
