"""Tracks: enrol leads that come to nurture on the first matching track, run each step from
a durable timer (an email through sending, a call task), schedule the next on the track's
calendar, and end the enrolment. Every method runs inside the caller's transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from contracts.events import LeadProfile, NurtureEnrolled
from contracts.ids import new_id
from nurture import metrics
from nurture.calendar import due_at, schedule_after, zone_for
from nurture.catalog import TrackCatalog
from nurture.consent import Consent, email_hash
from nurture.definitions import Trigger, choose, expand
from nurture.records import Enrolment, EnrolmentStatus
from nurture.repository import enrolments, leads, messages, tasks
from nurture.sending import Sending
from nurture.tasks import open_task
from services import timers
from services.db import Tx
from services.outbox import emit

log = logging.getLogger(__name__)

TOUCH = "nurture_touch"


class Tracks:
    def __init__(self, catalog: TrackCatalog, consent: Consent, sending: Sending) -> None:
        self.catalog = catalog
        self.consent = consent
        self.sending = sending

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
        await leads.put_lead(tx, lead_id, hashed, profile, now)
        if await enrolments.active_enrolment(tx, lead_id) is not None:
            log.info("lead already has an active nurture enrolment; profile updated")
            return None
        latest = await enrolments.latest_enrolment(tx, lead_id)
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
        enrolment_id = new_id()
        await enrolments.insert_enrolment(
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
        decision = (await self.consent.check(tx, profile, track)).decision
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
        active = {e.lead_id: e for e in await enrolments.active_enrolments(tx, dict(reasons))}
        stopped = 0
        for lead_id, reason in reasons:
            enrolment = active.pop(lead_id, None)
            if enrolment is not None:
                await end(tx, enrolment, "exited", reason)
                stopped += 1
        return stopped

    async def step_due(self, tx: Tx, enrolment_id: str) -> None:
        """The enrolment's next step is due: do it, then schedule the one after."""
        enrolment = await enrolments.get_enrolment(tx, enrolment_id)
        if enrolment is None or enrolment.status != "active":
            return
        catalog = await self.catalog.current(tx)
        track = catalog.tracks.get(enrolment.track)
        if track is None:
            await end(tx, enrolment, "completed", f"track {enrolment.track} was removed")
            return
        steps = expand(track)
        if enrolment.step >= len(steps):
            await end(tx, enrolment, "completed", "the track ran its course")
            return
        step = steps[enrolment.step]
        lead = await leads.get_lead(tx, enrolment.lead_id)
        now = tx.now()
        if step.action == "email":
            await self.sending.queue_email(tx, catalog, track, enrolment, step, lead)
        elif step.action == "task":
            await open_task(tx, track, enrolment, step)
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
        await enrolments.update_enrolment(tx, enrolment.id, **values)


async def end(tx: Tx, enrolment: Enrolment, status: EnrolmentStatus, reason: str) -> None:
    await enrolments.update_enrolment(
        tx,
        enrolment.id,
        status=status,
        ended_at=enrolment.ended_at or tx.now(),
        end_reason=reason[:500],
        next_touch_at=None,
    )
    await timers.cancel(tx, TOUCH, enrolment.id)
    await messages.cancel_pending_messages(tx, reason[:500], enrolment_id=enrolment.id)
    await tasks.cancel_open_tasks(tx, enrolment.id, reason[:500])
