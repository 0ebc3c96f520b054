"""nurture's domain: enrol leads on tracks, run each step from a durable timer, queue emails
only with a consent basis, record engagement, and hand a lead back to the qualifier
(`lead.recycled`) when it warms up. Every method runs inside the caller's transaction.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from contracts.events import (
    LeadProfile,
    LeadRecycled,
    NurtureEnrolled,
    NurtureErasureCompleted,
    NurtureTouched,
)
from nurture import metrics, repository
from nurture.calendar import due_at, schedule_after, zone_for
from nurture.catalog import Catalog, TrackCatalog
from nurture.consent import ConsentDecision, ExplicitBasis, decide, email_hash
from nurture.definitions import (
    EngagementType,
    ScheduledStep,
    TrackDef,
    Trigger,
    choose,
    expand,
)
from nurture.repository import Conn, EngagementRow, EnrolmentRow, LeadRow, MessageRow
from nurture.schemas import (
    ConsentOut,
    EngagementOut,
    EngagementSummary,
    LeadNurtureOut,
    NextStepOut,
    StepCountOut,
    TaskOut,
    TouchOut,
    TrackStatsOut,
)
from nurture.scoring import score
from nurture.senders import Accepted, OutgoingEmail
from nurture.settings import NurtureSettings
from nurture.signing import CLICK, UNSUBSCRIBE, Signer
from nurture.templates import RenderContext, RenderError, render
from services import erasure, timers
from services.clock import Clock
from services.crypto import SecretBox
from services.db import Tx
from services.outbox import emit

log = logging.getLogger(__name__)

TOUCH = "nurture_touch"
RECYCLE_HISTORY = 50


class NotInNurture(LookupError):
    """The lead has no enrolment in nurture."""


class InvalidToken(ValueError):
    """An unsubscribe or tracking token that is forged, expired or malformed."""


@dataclass(frozen=True)
class EngageOutcome:
    engagement_id: str
    lead_id: str
    duplicate: bool
    score: float
    threshold: float
    recycled: bool
    detail: str


@dataclass(frozen=True)
class Click:
    url: str
    lead_id: str


@dataclass(frozen=True)
class ErasureOutcome:
    lead_ids: list[str]
    counts: dict[str, int]
    message_ids: list[str]
    suppressed: bool


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at two hours."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 7200))


class Nurture:
    def __init__(
        self,
        catalog: TrackCatalog,
        settings: NurtureSettings,
        clock: Clock,
        nudge: Callable[[], None] | None = None,
        *,
        box: SecretBox,
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.clock = clock
        self.box = box  # the stored link-signing key is sealed
        self.nudge = nudge or (lambda: None)
        self._signer: Signer | None = (
            Signer(settings.signing_key.get_secret_value().encode())
            if settings.signing_key
            else None
        )

    # --- links ------------------------------------------------------------------------

    async def signer(self, conn: Conn, *, create: bool = False) -> Signer | None:
        """The link-signing key: the configured one, else the one kept in nurture's tables
        (made on first use when `create`)."""
        if self._signer is not None:
            return self._signer
        stored = await repository.signing_key(conn)
        if stored is not None:
            self._signer = Signer(self.box.open(stored).encode())  # committed: safe to keep
            return self._signer
        if not create:
            return None
        assert isinstance(conn, Tx)
        made = await repository.create_signing_key(
            conn, self.box.seal(secrets.token_urlsafe(32)), conn.now()
        )
        # Not kept in memory: the transaction that stored it may still roll back.
        return Signer(self.box.open(made).encode())

    def _url(self, path: str) -> str:
        return self.settings.public_url.rstrip("/") + path

    def unsubscribe_url(self, signer: Signer, hashed: str, lead_id: str, track: str) -> str:
        token = signer.sign(UNSUBSCRIBE, {"h": hashed, "l": lead_id, "t": track})
        return self._url(f"/nurture/v1/unsubscribe?token={quote(token)}")

    def link_url(
        self, signer: Signer, message_id: str, lead_id: str, url: str, key_page: bool
    ) -> str:
        token = signer.sign(CLICK, {"m": message_id, "l": lead_id, "u": url, "k": key_page})
        return self._url(f"/nurture/v1/r/{quote(token)}")

    # --- consent ----------------------------------------------------------------------

    async def consent(
        self, conn: Conn, profile: LeadProfile | None, track: TrackDef | None
    ) -> tuple[ConsentDecision, str | None]:
        """The consent decision for emailing this lead on this track, and the address hash."""
        hashed = email_hash(profile.email) if profile and profile.email else None
        suppressed = await repository.suppression(conn, hashed) if hashed else None
        stored = await repository.explicit_consent(conn, hashed) if hashed else None
        explicit: ExplicitBasis | None = (
            "opt_in" if stored == "opt_in" else "withdrawn" if stored == "withdrawn" else None
        )
        decision = decide(
            has_email=hashed is not None,
            suppressed=suppressed.reason if suppressed else None,
            explicit=explicit,
            profile_consent=profile.consent_email if profile else None,
            legitimate_interest=bool(track and track.legitimate_interest),
        )
        return decision, hashed

    # --- enrolment --------------------------------------------------------------------

    async def on_lead(
        self,
        tx: Tx,
        lead_id: str,
        profile: LeadProfile,
        trigger: Trigger,
        reason: str,
        returned_reason: str | None,
        traceparent: str | None,
    ) -> str | None:
        """A lead came to nurture (deferred or returned). Keep its latest profile; enrol it
        on the first matching track unless it already has an active enrolment."""
        now = tx.now()
        hashed = email_hash(profile.email) if profile.email else None
        await repository.put_lead(tx, lead_id, hashed, profile, now)
        if await repository.active_enrolment(tx, lead_id) is not None:
            log.info("lead already has an active nurture enrolment; profile updated")
            return None
        latest = await repository.latest_enrolment(tx, lead_id)
        if trigger == "deferred" and latest is not None and latest.status == "recycled":
            trigger = "deferred_again"
        catalog = await self.catalog.current(tx)
        track = choose(catalog.ordered_tracks(), trigger, profile, returned_reason)
        if track is None:
            log.warning("no nurture track matches this lead (%s); not enrolled", trigger)
            metrics.ENROLMENTS.labels("none").inc()
            return None
        calendar = catalog.calendar_for(track)
        zone = zone_for(calendar, profile.country)
        first = expand(track)[0]
        due = due_at(calendar, zone, now, first.day, profile.country)
        enrolment_id = str(uuid.uuid4())
        await repository.insert_enrolment(
            tx,
            id=enrolment_id,
            lead_id=lead_id,
            track=track.id,
            reason=reason[:200],
            status="active",
            step=0,
            enrolled_at=now,
            next_touch_at=due,
            trigger=trigger,
            timezone=zone,
        )
        await timers.schedule(tx, TOUCH, enrolment_id, due, {"lead_id": lead_id})
        decision, _ = await self.consent(tx, profile, track)
        await emit(
            tx,
            NurtureEnrolled(
                lead_id=lead_id,
                enrolment_id=enrolment_id,
                track=track.id,
                reason=reason[:200],
                next_touch_at=due,
                trigger=trigger,
                consent_basis=decision.basis,
            ),
            traceparent=traceparent,
        )
        metrics.ENROLMENTS.labels(track.id).inc()
        return enrolment_id

    async def exit(self, tx: Tx, reasons: Sequence[tuple[str, str]]) -> int:
        """Leads that left nurture's hands (qualified, disqualified), each with why: stop
        their tracks (one read for all of them; most were never enrolled). Returns how many
        tracks stopped."""
        active = {e.lead_id: e for e in await repository.active_enrolments(tx, dict(reasons))}
        stopped = 0
        for lead_id, reason in reasons:
            enrolment = active.pop(lead_id, None)
            if enrolment is not None:
                await self._end(tx, enrolment, "exited", reason)
                stopped += 1
        return stopped

    async def _end(self, tx: Tx, enrolment: EnrolmentRow, status: str, reason: str) -> None:
        await repository.update_enrolment(
            tx,
            enrolment.id,
            status=status,
            ended_at=enrolment.ended_at or tx.now(),
            end_reason=reason[:500],
            next_touch_at=None,
        )
        await timers.cancel(tx, TOUCH, enrolment.id)
        await repository.cancel_pending_messages(tx, reason[:500], enrolment_id=enrolment.id)
        await repository.cancel_open_tasks(tx, enrolment.id, reason[:500])

    # --- steps ------------------------------------------------------------------------

    async def step_due(self, tx: Tx, enrolment_id: str) -> None:
        """The enrolment's next step is due: do it, then schedule the one after."""
        enrolment = await repository.get_enrolment(tx, enrolment_id)
        if enrolment is None or enrolment.status != "active":
            return
        catalog = await self.catalog.current(tx)
        track = catalog.tracks.get(enrolment.track)
        if track is None:
            await self._end(tx, enrolment, "completed", f"track {enrolment.track} was removed")
            return
        steps = expand(track)
        if enrolment.step >= len(steps):
            await self._end(tx, enrolment, "completed", "the track ran its course")
            return
        step = steps[enrolment.step]
        lead = await repository.get_lead(tx, enrolment.lead_id)
        now = tx.now()
        if step.action == "email":
            await self._email_step(tx, catalog, track, enrolment, step, lead)
        elif step.action == "task":
            await self._task_step(tx, track, enrolment, step)
        done = enrolment.step + 1
        values: dict[str, Any] = {"step": done}
        if step.action != "wait":
            values["last_touch_at"] = now
        if done < len(steps):
            calendar = catalog.calendar_for(track)
            country = lead.profile.country if lead else None
            zone = enrolment.timezone or zone_for(calendar, country)
            due = schedule_after(
                calendar, zone, enrolment.enrolled_at, steps[done].day, now, country
            )
            values["next_touch_at"] = due
            await timers.schedule(tx, TOUCH, enrolment.id, due, {"lead_id": enrolment.lead_id})
        else:
            values |= {
                "status": "completed",
                "ended_at": now,
                "end_reason": "the track ran its course",
                "next_touch_at": None,
            }
        await repository.update_enrolment(tx, enrolment.id, **values)

    async def _email_step(
        self,
        tx: Tx,
        catalog: Catalog,
        track: TrackDef,
        enrolment: EnrolmentRow,
        step: ScheduledStep,
        lead: LeadRow | None,
    ) -> None:
        now = tx.now()
        message_id = str(uuid.uuid4())
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
        decision, hashed = await self.consent(tx, profile, track)
        base["email_hash"] = hashed
        template = catalog.templates.get(step.template or "")
        if not decision.may_email or profile is None or hashed is None:
            await self._skip(tx, base, decision.reason)
            return
        if template is None:
            await self._skip(tx, base, f"template {step.template!r} does not exist")
            return
        signer = await self.signer(tx, create=True)
        assert signer is not None
        unsubscribe = self.unsubscribe_url(signer, hashed, enrolment.lead_id, track.id)
        context = RenderContext(
            lead=profile,
            track_id=track.id,
            track_name=track.name,
            step=step.number,
            day=step.day,
            unsubscribe_url=unsubscribe,
            link=lambda url, key_page: self.link_url(
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
        await repository.insert_message(
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
        await repository.insert_message(tx, **base, status="skipped", reason=reason[:1000])
        metrics.EMAILS.labels("skipped").inc()

    async def _task_step(
        self, tx: Tx, track: TrackDef, enrolment: EnrolmentRow, step: ScheduledStep
    ) -> None:
        now = tx.now()
        task_id = str(uuid.uuid4())
        await repository.insert_task(
            tx,
            id=task_id,
            enrolment_id=enrolment.id,
            lead_id=enrolment.lead_id,
            track=track.id,
            step=step.number,
            day=step.day,
            title=step.task or "",
            note=step.note,
            status="open",
            created_at=now,
        )
        await emit(
            tx,
            NurtureTouched(
                lead_id=enrolment.lead_id,
                enrolment_id=enrolment.id,
                step=step.number,
                channel="task",
                at=now,
                track=track.id,
                day=step.day,
                task_id=task_id,
            ),
        )

    # --- sending (called by the send worker) ------------------------------------------

    async def has_due_emails(self, conn: Conn) -> bool:
        return await repository.has_due_messages(conn, self.clock.now())

    async def claim_emails(self, tx: Tx, limit: int) -> list[OutgoingEmail]:
        """Lease due emails to the caller, after a last check that each may still go."""
        now = tx.now()
        lease_until = now + timedelta(seconds=self.settings.send_lease_s)
        out: list[OutgoingEmail] = []
        rows = await repository.claim_messages(tx, now, lease_until, limit)
        catalog = await self.catalog.current(tx) if rows else None
        for row in rows:
            assert catalog is not None
            stop = await self._stop_reason(tx, catalog, row)
            if stop is not None:
                await repository.set_message(
                    tx, row.id, status="cancelled", reason=stop[:1000], next_attempt_at=None
                )
                metrics.EMAILS.labels("cancelled").inc()
                continue
            if row.attempts >= self.settings.send_max_attempts:
                await repository.set_message(
                    tx,
                    row.id,
                    status="failed",
                    reason="no answer from the sender",
                    lease_until=None,
                )
                continue
            attempt = row.attempts + 1
            await repository.set_message(
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

    async def _stop_reason(self, tx: Tx, catalog: Catalog, row: MessageRow) -> str | None:
        """Why a queued email must not go any more (the last word before the sender)."""
        enrolment = await repository.get_enrolment(tx, row.enrolment_id)
        if enrolment is None or enrolment.status not in ("active", "completed"):
            return f"the lead left the track ({enrolment.status if enrolment else 'erased'})"
        lead = await repository.get_lead(tx, row.lead_id)
        decision, hashed = await self.consent(
            tx, lead.profile if lead else None, catalog.tracks.get(row.track)
        )
        if not decision.may_email:
            return decision.reason
        if hashed != row.email_hash:
            return "the lead's email address changed since the email was written"
        return None

    async def sent(self, tx: Tx, email: OutgoingEmail, accepted: Accepted) -> bool:
        """The sender accepted the email: the lead was touched. False when the message is
        gone (erased while it was being sent)."""
        # Locked: two workers that both sent it (a lease ran out) touch the lead once.
        row = await repository.get_message(tx, email.message_id, for_update=True)
        if row is None:
            return False
        if row.status == "sent":
            return True  # another worker got there first (a lease ran out)
        now = tx.now()
        await repository.set_message(
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
            await repository.set_message(
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
        await repository.set_message(
            tx,
            email.message_id,
            only_if="sending",
            status="queued",
            last_error=error[:2000],
            lease_until=None,
            next_attempt_at=tx.now() + backoff(email.attempt),
        )

    async def hard_bounced(self, tx: Tx, email: OutgoingEmail, detail: str) -> None:
        row = await repository.get_message(tx, email.message_id)
        if row is None:
            return
        await self._bounce(tx, row.email_hash, "hard_bounce", detail, row)

    async def _bounce(
        self,
        tx: Tx,
        hashed: str | None,
        reason: str,
        detail: str | None,
        row: MessageRow | None,
    ) -> int:
        if row is not None:
            await repository.set_message(
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
        await repository.suppress(
            tx, hashed, reason, (detail or "")[:1000] or None, row.track if row else None, tx.now()
        )
        return await repository.cancel_pending_messages(
            tx, f"suppressed ({reason})", email_hash=hashed
        )

    # --- consent and suppression through the API --------------------------------------

    async def bounce(
        self, tx: Tx, message_id: str | None, email: str | None, kind: str, detail: str | None
    ) -> tuple[bool, int]:
        """A bounce or complaint reported by the email service provider."""
        row = await repository.get_message(tx, message_id) if message_id else None
        if message_id and row is None and not email:
            raise NotInNurture(f"no email {message_id!r}")
        hashed = email_hash(email) if email else (row.email_hash if row else None)
        if kind == "soft":
            if row is not None:
                await repository.set_message(
                    tx, row.id, last_error=f"soft bounce: {detail or ''}"[:2000]
                )
            return False, 0
        reason = "hard_bounce" if kind == "hard" else "complaint"
        cancelled = await self._bounce(tx, hashed, reason, detail, row)
        return hashed is not None, cancelled

    async def unsubscribe(self, tx: Tx, token: str) -> str:
        """The one-click unsubscribe: suppress the address; returns the lead id."""
        signer = await self.signer(tx)
        payload = signer.verify(UNSUBSCRIBE, token) if signer else None
        if payload is None or not isinstance(payload.get("h"), str):
            raise InvalidToken("this unsubscribe link is not valid")
        hashed, lead_id, track = payload["h"], str(payload.get("l", "")), payload.get("t")
        await repository.suppress(
            tx, hashed, "unsubscribed", "the unsubscribe link in an email", track, tx.now()
        )
        await repository.cancel_pending_messages(tx, "unsubscribed", email_hash=hashed)
        metrics.UNSUBSCRIBES.inc()
        return lead_id

    async def check_unsubscribe(self, conn: Conn, token: str) -> bool:
        signer = await self.signer(conn)
        return bool(signer and signer.verify(UNSUBSCRIBE, token))

    async def record_consent(
        self, tx: Tx, email: str, basis: str, evidence: str
    ) -> tuple[str, str | None]:
        """A manager records consent given or withdrawn elsewhere. A fresh opt-in lifts an
        unsubscribe (not a bounce, a complaint or an erasure); a withdrawal suppresses."""
        hashed = email_hash(email)
        now = tx.now()
        await repository.put_consent(tx, hashed, basis, evidence, now)
        if basis == "opt_in":
            await repository.unsuppress(tx, hashed, ["unsubscribed", "manual"])
        else:
            await repository.suppress(
                tx, hashed, "unsubscribed", f"withdrawn: {evidence}", None, now
            )
            await repository.cancel_pending_messages(tx, "consent withdrawn", email_hash=hashed)
        remaining = await repository.suppression(tx, hashed)
        return hashed, remaining.reason if remaining else None

    async def suppress_address(self, tx: Tx, email: str, detail: str | None) -> str:
        hashed = email_hash(email)
        await repository.suppress(tx, hashed, "manual", detail, None, tx.now())
        await repository.cancel_pending_messages(tx, "suppressed (manual)", email_hash=hashed)
        return hashed

    # --- engagement -------------------------------------------------------------------

    async def engage(
        self,
        tx: Tx,
        *,
        lead_id: str | None,
        message_id: str | None,
        kind: EngagementType,
        at: datetime | None,
        hand_raise: bool,
        timeframe_days: int | None,
        url: str | None,
        detail: dict[str, Any] | None,
        external_id: str | None,
        traceparent: str | None,
    ) -> EngageOutcome:
        """Record an engagement; recycle the lead on a hand raise or when its decayed score
        reaches the threshold."""
        if external_id:
            seen = await repository.engagement_by_external_id(tx, external_id)
            if seen is not None:
                return await self._outcome(tx, seen, duplicate=True)
        if message_id and not lead_id:
            message = await repository.get_message(tx, message_id)
            if message is None:
                raise NotInNurture(f"no email {message_id!r} in nurture")
            lead_id = message.lead_id
        assert lead_id is not None
        lead = await repository.get_lead(tx, lead_id)
        if lead is None:
            raise NotInNurture(f"lead {lead_id!r} is not in nurture")
        catalog = await self.catalog.current(tx)
        latest = await repository.latest_enrolment(tx, lead_id)
        track = catalog.tracks.get(latest.track) if latest else None
        now = tx.now()
        hand_raise = hand_raise or kind == "hand_raise"
        engagement_id = str(uuid.uuid4())
        await repository.insert_engagement(
            tx,
            id=engagement_id,
            lead_id=lead_id,
            enrolment_id=latest.id if latest and latest.status == "active" else None,
            type=kind,
            points=float(catalog.engagement.points.get(kind, 0)),
            hand_raise=hand_raise,
            at=min(at, now) if at else now,
            recorded_at=now,
            message_id=message_id,
            url=url,
            timeframe_days=timeframe_days,
            detail=detail,
            external_id=external_id,
        )
        metrics.ENGAGEMENTS.labels(kind).inc()
        history = await repository.engagements_since(tx, lead_id, lead.recycled_at)
        current = score(((e.at, e.points) for e in history), now, catalog.engagement.half_life_days)
        threshold = catalog.threshold_for(track)
        if latest is not None and latest.status in ("recycled", "exited"):
            detail_text = f"recorded; the lead is not in nurture now ({latest.status})"
            recycled = False
        elif hand_raise or current >= threshold:
            await self._recycle(
                tx, lead, latest, history, current, threshold, kind, hand_raise, traceparent
            )
            detail_text = (
                f"raised a hand ({kind}): back to the qualifier"
                if hand_raise
                else f"score {current:g} reached {threshold:g}: back to the qualifier"
            )
            recycled = True
        else:
            detail_text = f"recorded; score {current:g} of {threshold:g}"
            recycled = False
        return EngageOutcome(
            engagement_id, lead_id, False, current, threshold, recycled, detail_text
        )

    async def _outcome(self, conn: Conn, seen: EngagementRow, *, duplicate: bool) -> EngageOutcome:
        view = await self.engagement_summary(conn, seen.lead_id)
        return EngageOutcome(
            seen.id, seen.lead_id, duplicate, view.score, view.threshold, False, "a duplicate"
        )

    async def _recycle(
        self,
        tx: Tx,
        lead: LeadRow,
        enrolment: EnrolmentRow | None,
        history: list[EngagementRow],
        current: float,
        threshold: float,
        kind: str,
        hand_raise: bool,
        traceparent: str | None,
    ) -> None:
        now = tx.now()
        updates: dict[str, Any] = {}
        if hand_raise:
            updates["asked_to_be_contacted"] = True
        timeframe = next((e.timeframe_days for e in history if e.timeframe_days is not None), None)
        if timeframe is not None:
            updates["timeframe_days"] = timeframe
        profile = lead.profile.model_copy(update=updates)
        await repository.put_lead(tx, lead.lead_id, lead.email_hash, profile, now)
        await repository.set_recycled(tx, lead.lead_id, now)
        reason = (
            f"raised a hand ({kind})"
            if hand_raise
            else f"engagement score {current:g} reached the threshold {threshold:g}"
        )
        if enrolment is not None and enrolment.status in ("active", "completed"):
            await self._end(tx, enrolment, "recycled", reason)
        await emit(
            tx,
            LeadRecycled(
                lead_id=lead.lead_id,
                reason=reason,
                engagement_score=current,
                engagements=[_history_item(e) for e in reversed(history[:RECYCLE_HISTORY])],
                lead=profile,
                hand_raise=hand_raise,
                threshold=threshold,
                enrolment_id=enrolment.id if enrolment else None,
                track=enrolment.track if enrolment else None,
            ),
            traceparent=traceparent,
        )
        metrics.RECYCLED.labels("hand_raise" if hand_raise else "score").inc()

    async def click(self, tx: Tx, token: str, traceparent: str | None) -> Click:
        """A tracked link was followed: record it (a key page counts more) and say where to."""
        signer = await self.signer(tx)
        payload = signer.verify(CLICK, token) if signer else None
        if payload is None or not isinstance(payload.get("u"), str):
            raise InvalidToken("this link is not valid")
        url, lead_id = str(payload["u"]), str(payload.get("l", ""))
        message_id = payload.get("m") if isinstance(payload.get("m"), str) else None
        if await repository.get_lead(tx, lead_id) is not None:
            await self.engage(
                tx,
                lead_id=lead_id,
                message_id=message_id,
                kind="visited_key_page" if payload.get("k") else "clicked",
                at=None,
                hand_raise=False,
                timeframe_days=None,
                url=url,
                detail=None,
                external_id=None,
                traceparent=traceparent,
            )
        return Click(url, lead_id)

    # --- tasks ------------------------------------------------------------------------

    async def complete_task(
        self,
        tx: Tx,
        task_id: str,
        outcome: str,
        engagement: EngagementType | None,
        hand_raise: bool,
        timeframe_days: int | None,
        traceparent: str | None,
    ) -> tuple[TaskOut, EngageOutcome | None]:
        task = await repository.get_task(tx, task_id)
        if task is None:
            raise NotInNurture(f"no task {task_id!r}")
        if task.status == "done":
            raise ValueError(f"task {task_id} is already done")
        await repository.set_task(
            tx, task_id, status="done", completed_at=tx.now(), outcome=outcome[:1000]
        )
        engaged = None
        if engagement or hand_raise:
            engaged = await self.engage(
                tx,
                lead_id=task.lead_id,
                message_id=None,
                kind=engagement or "hand_raise",
                at=None,
                hand_raise=hand_raise,
                timeframe_days=timeframe_days,
                url=None,
                detail={"task_id": task_id, "outcome": outcome[:200]},
                external_id=None,
                traceparent=traceparent,
            )
        done = await repository.get_task(tx, task_id)
        assert done is not None
        return task_out(done), engaged

    # --- erasure ----------------------------------------------------------------------

    async def erase(self, tx: Tx, lead_id: str | None, email: str | None) -> ErasureOutcome:
        """Remove the person's data from nurture: every lead with their address, its
        enrolments, emails, tasks, engagements and consent records. The address stays on
        the suppression list as a hash, so a stale event can never email them again."""
        hashes: set[str] = set()
        lead_ids: set[str] = set()
        if email:
            hashes.add(email_hash(email))
        if lead_id:
            lead_ids.add(lead_id)
            lead = await repository.get_lead(tx, lead_id)
            if lead is not None and lead.email_hash:
                hashes.add(lead.email_hash)
        for hashed in list(hashes):
            lead_ids.update(await repository.leads_by_email_hash(tx, hashed))
        erased = await repository.erase(tx, sorted(lead_ids), sorted(hashes))
        for enrolment_id in erased.enrolment_ids:
            await timers.cancel(tx, TOUCH, enrolment_id)
        for hashed in hashes:
            await repository.suppress(tx, hashed, "erased", None, None, tx.now())
        log.info("erased %d leads from nurture: %s", len(lead_ids), erased.counts)
        return ErasureOutcome(sorted(lead_ids), erased.counts, erased.message_ids, bool(hashes))

    async def erase_here(self, tx: Tx, lead_id: str | None, email: str | None) -> ErasureOutcome:
        """An erasure asked of nurture itself (its API): `erase`, then a tombstone per lead
        (late events about them are ignored, so no profile comes back)."""
        outcome = await self.erase(tx, lead_id, email)
        erasure_id = f"nurture-{uuid.uuid4()}"
        for each in outcome.lead_ids:
            await repository.put_tombstone(tx, each, erasure_id)
        return outcome

    async def erase_requested(
        self, tx: Tx, lead_id: str, erasure_id: str, traceparent: str | None = None
    ) -> ErasureOutcome:
        """The erasure asked through audit (`person.erasure_requested`): `erase` the person
        (every lead with their address), redact nurture's own events about those leads in
        the outbox, keep a tombstone per lead (late events cannot re-enrol them) and
        confirm, in one transaction. The caller forgets the sender's copies."""
        lead_ids = {lead_id}
        lead = await repository.get_lead(tx, lead_id)
        if lead is not None and lead.email_hash:
            lead_ids.update(await repository.leads_by_email_hash(tx, lead.email_hash))
        values: set[str] = set()
        for each in lead_ids:
            values |= erasure.personal_values(await repository.profile_json(tx, each) or {})
            values |= await erasure.outbox_values(tx, each)
        outcome = await self.erase(tx, lead_id, None)
        changed = sum(outcome.counts.values())
        for each in sorted(lead_ids | set(outcome.lead_ids)):
            changed += await erasure.redact_outbox(tx, each, values)
            await repository.put_tombstone(tx, each, erasure_id)
        await emit(
            tx,
            NurtureErasureCompleted(lead_id=lead_id, erasure_id=erasure_id, records=changed),
            traceparent=traceparent,
        )
        return outcome

    # --- read side --------------------------------------------------------------------

    async def engagement_summary(self, conn: Conn, lead_id: str) -> EngagementSummary:
        catalog = await self.catalog.current(conn)
        lead = await repository.get_lead(conn, lead_id)
        latest = await repository.latest_enrolment(conn, lead_id)
        track = catalog.tracks.get(latest.track) if latest else None
        history = await repository.engagements_since(
            conn, lead_id, lead.recycled_at if lead else None
        )
        now = conn.now() if isinstance(conn, Tx) else self.clock.now()
        return EngagementSummary(
            score=score(
                ((e.at, e.points) for e in history), now, catalog.engagement.half_life_days
            ),
            threshold=catalog.threshold_for(track),
            recycled_at=lead.recycled_at if lead else None,
            history=[_engagement_out(e) for e in history],
        )

    async def lead_view(self, conn: Conn, lead_id: str) -> LeadNurtureOut | None:
        lead = await repository.get_lead(conn, lead_id)
        enrolment = await repository.latest_enrolment(conn, lead_id)
        if lead is None and enrolment is None:
            return None
        catalog = await self.catalog.current(conn)
        track = catalog.tracks.get(enrolment.track) if enrolment else None
        decision, hashed = await self.consent(conn, lead.profile if lead else None, track)
        suppressed = await repository.suppression(conn, hashed) if hashed else None
        touches = [
            TouchOut(
                kind="email",
                id=m.id,
                step=m.step,
                day=m.day,
                status=m.status,
                template=m.template,
                reason=m.reason,
                created_at=m.created_at,
                sent_at=m.sent_at,
            )
            for m in await repository.messages_for_lead(conn, lead_id, 100)
        ] + [
            TouchOut(
                kind="task",
                id=t.id,
                step=t.step,
                day=t.day,
                status=t.status,
                title=t.title,
                reason=t.outcome,
                created_at=t.created_at,
                sent_at=t.completed_at,
            )
            for t in await repository.tasks_for_lead(conn, lead_id, 100)
        ]
        touches.sort(key=lambda t: (t.created_at, t.step), reverse=True)
        out = LeadNurtureOut(
            lead_id=lead_id,
            status="not_enrolled",
            consent=ConsentOut(
                basis=decision.basis,
                detail=decision.reason,
                suppressed=suppressed.reason if suppressed else None,
            ),
            engagement=await self.engagement_summary(conn, lead_id),
            touches=touches,
        )
        if enrolment is None:
            return out
        steps = expand(track) if track else []
        next_step = None
        if enrolment.status == "active" and enrolment.step < len(steps):
            s = steps[enrolment.step]
            next_step = NextStepOut(
                number=s.number,
                day=s.day,
                action=s.action,
                template=s.template,
                task=s.task,
                note=s.note,
                due_at=enrolment.next_touch_at,
            )
        return out.model_copy(
            update={
                "id": enrolment.id,
                "track": enrolment.track,
                "track_name": track.name if track else None,
                "reason": enrolment.reason,
                "trigger": enrolment.trigger,
                "status": enrolment.status,
                "step": enrolment.step,
                "steps_total": len(steps) if track else None,
                "enrolled_at": enrolment.enrolled_at,
                "next_touch_at": enrolment.next_touch_at,
                "next_step": next_step,
                "ended_at": enrolment.ended_at,
                "end_reason": enrolment.end_reason,
            }
        )

    async def track_stats(self, conn: Conn, track_id: str) -> TrackStatsOut | None:
        catalog = await self.catalog.current(conn)
        stats = await repository.track_stats(conn, track_id)
        track = catalog.tracks.get(track_id)
        if track is None and stats["enrolled"] == 0:
            return None
        steps: list[StepCountOut] = []
        if track is not None:
            counts = await repository.enrolments_by_step(conn, track_id)
            for s in expand(track):
                steps.append(
                    StepCountOut(
                        number=s.number,
                        day=s.day,
                        action=s.action,
                        reached=sum(n for (done, _), n in counts.items() if done >= s.number),
                        waiting=counts.get((s.number - 1, "active"), 0),
                    )
                )
        return TrackStatsOut(
            track=track_id, name=track.name if track else None, steps=steps, **stats
        )


def _history_item(e: EngagementRow) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": e.type,
        "at": e.at.isoformat(),
        "points": e.points,
        "hand_raise": e.hand_raise,
    }
    for key in ("url", "message_id", "timeframe_days", "detail"):
        value = getattr(e, key)
        if value is not None:
            item[key] = value
    return item


def _engagement_out(e: EngagementRow) -> EngagementOut:
    return EngagementOut(
        id=e.id,
        type=e.type,
        points=e.points,
        hand_raise=e.hand_raise,
        at=e.at,
        message_id=e.message_id,
        url=e.url,
        timeframe_days=e.timeframe_days,
        detail=e.detail,
    )


def task_out(t: repository.TaskRow) -> TaskOut:
    return TaskOut(
        id=t.id,
        lead_id=t.lead_id,
        enrolment_id=t.enrolment_id,
        track=t.track,
        step=t.step,
        day=t.day,
        title=t.title,
        note=t.note,
        status=t.status,
        created_at=t.created_at,
        completed_at=t.completed_at,
        outcome=t.outcome,
    )
