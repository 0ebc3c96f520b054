"""Sending: queue a step's email (rendered, with a consent basis) and the send worker's
domain side: lease due emails after a last check, record sent, failed and bounced ones.
Every method runs inside the caller's transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from contracts.events import NurtureTouched
from contracts.ids import new_id
from nurture import metrics
from nurture.catalog import Catalog, TrackCatalog
from nurture.consent import Consent, email_hash
from nurture.definitions import ScheduledStep, TrackDef
from nurture.errors import NotInNurture
from nurture.links import Links
from nurture.records import BounceKind, Email, Enrolment, NurturedLead, SuppressionReason
from nurture.repository import enrolments, leads, messages
from nurture.senders import Accepted, OutgoingEmail
from nurture.settings import NurtureSettings
from nurture.templates import RenderContext, RenderError, render
from services.clock import Clock
from services.db import Conn, Tx
from services.errors import FieldError
from services.outbox import emit

log = logging.getLogger(__name__)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at two hours."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 7200))


class Sending:
    """The emails: written when their step runs (with a consent basis only), leased to the
    send worker, and what became of them (sent, bounced, failed)."""

    def __init__(
        self,
        catalog: TrackCatalog,
        settings: NurtureSettings,
        clock: Clock,
        links: Links,
        consent: Consent,
        nudge: Callable[[], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.clock = clock
        self.links = links
        self.consent = consent
        self.nudge = nudge or (lambda: None)

    async def queue_email(
        self,
        tx: Tx,
        catalog: Catalog,
        track: TrackDef,
        enrolment: Enrolment,
        step: ScheduledStep,
        lead: NurturedLead | None,
    ) -> None:
        now = tx.now()
        message_id = new_id()
        base: dict[str, Any] = {
            "id": message_id,
            "enrolment_id": enrolment.id,
            "lead_id": enrolment.lead_id,
            "track": track.id,
            "step": step.number,
            "day": step.day,
            "template": step.template,
            "attempts": 0,
            "created_at": now,
        }
        profile = lead.profile if lead else None
        check = await self.consent.check(tx, profile, track)
        decision, hashed = check.decision, check.email_hash
        base["email_hash"] = hashed
        template = catalog.templates.get(step.template or "")
        if not decision.may_email or profile is None or hashed is None:
            await self._skip(tx, base, decision.reason)
            return
        if template is None:
            await self._skip(tx, base, f"template {step.template!r} does not exist")
            return
        signer = await self.links.signer(tx, create=True)
        assert signer is not None
        unsubscribe = self.links.unsubscribe_url(signer, hashed, enrolment.lead_id, track.id)
        context = RenderContext(
            lead=profile,
            track_id=track.id,
            track_name=track.name,
            step=step.number,
            day=step.day,
            unsubscribe_url=unsubscribe,
            link=lambda url, key_page: self.links.link_url(
                signer, message_id, enrolment.lead_id, url, key_page
            ),
            sender_name=self.settings.from_name,
            sender_address=self.settings.from_address,
        )
        try:
            rendered = render(template, context)
        except RenderError as exc:
            await self._skip(tx, base, f"template {step.template!r} did not render: {exc}")
            return
        await messages.insert_message(
            tx,
            **base,
            to_address=profile.email,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            unsubscribe_url=unsubscribe,
            consent_basis=decision.basis,
            status="queued",
            next_attempt_at=now,
        )
        metrics.EMAILS.labels("queued").inc()
        self.nudge()

    async def _skip(self, tx: Tx, base: dict[str, Any], reason: str) -> None:
        await messages.insert_message(tx, **base, status="skipped", reason=reason[:1000])
        metrics.EMAILS.labels("skipped").inc()

    async def has_due_emails(self, conn: Conn) -> bool:
        return await messages.has_due_messages(conn, self.clock.now())

    async def claim_emails(self, tx: Tx, limit: int) -> list[OutgoingEmail]:
        """Lease due emails to the caller, after a last check that each may still go."""
        now = tx.now()
        lease_until = now + timedelta(seconds=self.settings.send_lease_s)
        out: list[OutgoingEmail] = []
        rows = await messages.claim_messages(tx, now, lease_until, limit)
        catalog = await self.catalog.current(tx) if rows else None
        for row in rows:
            assert catalog is not None
            stop = await self._stop_reason(tx, catalog, row)
            if stop is not None:
                await messages.set_message(
                    tx, row.id, status="cancelled", reason=stop[:1000], next_attempt_at=None
                )
                metrics.EMAILS.labels("cancelled").inc()
                continue
            if row.attempts >= self.settings.send_max_attempts:
                await messages.set_message(
                    tx,
                    row.id,
                    status="failed",
                    reason="no answer from the sender",
                    lease_until=None,
                )
                continue
            attempt = row.attempts + 1
            await messages.set_message(
                tx, row.id, status="sending", attempts=attempt, lease_until=lease_until
            )
            assert row.to_address is not None
            assert row.subject is not None
            assert row.text_body is not None
            out.append(
                OutgoingEmail(
                    message_id=row.id,
                    lead_id=row.lead_id,
                    to=row.to_address,
                    subject=row.subject,
                    text=row.text_body,
                    html=row.html_body,
                    unsubscribe_url=row.unsubscribe_url or "",
                    attempt=attempt,
                )
            )
        return out

    async def _stop_reason(self, tx: Tx, catalog: Catalog, row: Email) -> str | None:
        """Why a queued email must not go any more (the last word before the sender)."""
        enrolment = await enrolments.get_enrolment(tx, row.enrolment_id)
        if enrolment is None or enrolment.status not in ("active", "completed"):
            return f"the lead left the track ({enrolment.status if enrolment else 'erased'})"
        lead = await leads.get_lead(tx, row.lead_id)
        check = await self.consent.check(
            tx, lead.profile if lead else None, catalog.tracks.get(row.track)
        )
        if not check.decision.may_email:
            return check.decision.reason
        if check.email_hash != row.email_hash:
            return "the lead's email address changed since the email was written"
        return None

    async def sent(self, tx: Tx, email: OutgoingEmail, accepted: Accepted) -> bool:
        """The sender accepted the email: the lead was touched. False when the message is
        gone (erased while it was being sent)."""
        # Locked: two workers that both sent it (a lease ran out) touch the lead once.
        row = await messages.get_message(tx, email.message_id, for_update=True)
        if row is None:
            return False
        if row.status == "sent":
            return True  # another worker got there first (a lease ran out)
        now = tx.now()
        await messages.set_message(
            tx,
            row.id,
            status="sent",
            sent_at=now,
            provider_id=accepted.provider_id,
            lease_until=None,
            next_attempt_at=None,
            last_error=None,
        )
        await emit(
            tx,
            NurtureTouched(
                lead_id=row.lead_id,
                enrolment_id=row.enrolment_id,
                step=row.step,
                channel="email",
                at=now,
                track=row.track,
                day=row.day,
                template=row.template,
                message_id=row.id,
            ),
        )
        metrics.EMAILS.labels("sent").inc()
        return True

    async def send_failed(
        self, tx: Tx, email: OutgoingEmail, error: str, *, permanent: bool
    ) -> None:
        if permanent or email.attempt >= self.settings.send_max_attempts:
            await messages.set_message(
                tx,
                email.message_id,
                only_if="sending",
                status="failed",
                reason=error[:1000],
                last_error=error[:2000],
                lease_until=None,
                next_attempt_at=None,
            )
            metrics.EMAILS.labels("failed").inc()
            log.error("giving up an email after %d attempts: %s", email.attempt, error)
            return
        await messages.set_message(
            tx,
            email.message_id,
            only_if="sending",
            status="queued",
            last_error=error[:2000],
            lease_until=None,
            next_attempt_at=tx.now() + backoff(email.attempt),
        )

    async def hard_bounced(self, tx: Tx, email: OutgoingEmail, detail: str) -> None:
        row = await messages.get_message(tx, email.message_id)
        if row is None:
            return
        await self._bounce(tx, row.email_hash, "hard_bounce", detail, row)

    async def _bounce(
        self,
        tx: Tx,
        hashed: str | None,
        reason: SuppressionReason,
        detail: str | None,
        row: Email | None,
    ) -> int:
        if row is not None:
            await messages.set_message(
                tx,
                row.id,
                status="bounced",
                reason=(detail or reason)[:1000],
                lease_until=None,
                next_attempt_at=None,
            )
            metrics.EMAILS.labels("bounced").inc()
        if hashed is None:
            return 0
        return await self.consent.suppress(
            tx,
            hashed,
            reason,
            (detail or "")[:1000] or None,
            row.track if row else None,
            cancelled_because=f"suppressed ({reason})",
        )

    async def bounce(
        self,
        tx: Tx,
        message_id: str | None,
        email: str | None,
        kind: BounceKind,
        detail: str | None,
    ) -> tuple[bool, int]:
        """A bounce or complaint reported by the email service provider."""
        row = await messages.get_message(tx, message_id) if message_id else None
        if message_id and row is None and not email:
            raise NotInNurture(
                f"no email {message_id!r}; give the address as email.",
                errors=[FieldError("message_id", f"no email {message_id!r}")],
            )
        hashed = email_hash(email) if email else (row.email_hash if row else None)
        if kind == "soft":
            if row is not None:
                await messages.set_message(
                    tx, row.id, last_error=f"soft bounce: {detail or ''}"[:2000]
                )
            return False, 0
        reason: SuppressionReason = "hard_bounce" if kind == "hard" else "complaint"
        cancelled = await self._bounce(tx, hashed, reason, detail, row)
        return hashed is not None, cancelled
