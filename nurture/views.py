"""nurture's read side: a lead in nurture (track, step, consent, engagement, touches) and a
track's statistics."""

from __future__ import annotations

from nurture.catalog import TrackCatalog
from nurture.consent import Consent
from nurture.definitions import expand
from nurture.engagement import Engagements
from nurture.repository import Conn, enrolments, leads, messages, tasks
from nurture.repository import stats as statistics
from nurture.schemas import (
    ConsentOut,
    LeadNurtureOut,
    NextStepOut,
    StepCountOut,
    TouchOut,
    TrackStatsOut,
)


class Views:
    """The read side: a lead in nurture, a track's statistics."""

    def __init__(self, catalog: TrackCatalog, consent: Consent, engagements: Engagements) -> None:
        self.catalog = catalog
        self.consent = consent
        self.engagements = engagements

    async def lead_view(self, conn: Conn, lead_id: str) -> LeadNurtureOut | None:
        lead = await leads.get_lead(conn, lead_id)
        enrolment = await enrolments.latest_enrolment(conn, lead_id)
        if lead is None and enrolment is None:
            return None
        catalog = await self.catalog.current(conn)
        track = catalog.tracks.get(enrolment.track) if enrolment else None
        check = await self.consent.check(conn, lead.profile if lead else None, track)
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
            for m in await messages.messages_for_lead(conn, lead_id, 100)
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
            for t in await tasks.tasks_for_lead(conn, lead_id, 100)
        ]
        touches.sort(key=lambda t: (t.created_at, t.step), reverse=True)
        out = LeadNurtureOut(
            lead_id=lead_id,
            status="not_enrolled",
            consent=ConsentOut(
                basis=check.decision.basis,
                detail=check.decision.reason,
                suppressed=check.suppressed,
            ),
            engagement=await self.engagements.summary(conn, lead_id),
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
        stats = await statistics.track_stats(conn, track_id)
        track = catalog.tracks.get(track_id)
        if track is None and stats["enrolled"] == 0:
            return None
        steps: list[StepCountOut] = []
        if track is not None:
            counts = await statistics.enrolments_by_step(conn, track_id)
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
