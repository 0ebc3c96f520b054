"""nurture's read side: a lead in nurture (track, step, consent, engagement, touches) and a
track's statistics, as domain records (api.py makes the responses)."""

from __future__ import annotations

from dataclasses import dataclass

from nurture.catalog import TrackCatalog
from nurture.consent import Consent, ConsentCheck
from nurture.definitions import Action, ScheduledStep, TrackDef, expand
from nurture.engagement import Engagements, EngagementScore
from nurture.records import CallTask, Email, Enrolment, TrackCounts
from nurture.repository import enrolments, leads, messages, tasks
from nurture.repository import stats as statistics
from services.db import Conn


@dataclass(frozen=True)
class LeadInNurture:
    lead_id: str
    consent: ConsentCheck
    engagement: EngagementScore
    emails: list[Email]
    """The latest 100, newest first; likewise `tasks`."""
    tasks: list[CallTask]
    enrolment: Enrolment | None
    """The current (latest) enrolment; none: no track matched."""
    track: TrackDef | None
    steps: list[ScheduledStep]
    """The track's schedule as it is now (empty when the track is gone)."""

    @property
    def next_step(self) -> ScheduledStep | None:
        enrolment = self.enrolment
        if enrolment is None or enrolment.status != "active" or enrolment.step >= len(self.steps):
            return None
        return self.steps[enrolment.step]


@dataclass(frozen=True)
class StepCount:
    number: int
    day: int
    action: Action
    reached: int
    """Enrolments that have had this step (whatever became of them)."""
    waiting: int
    """Active enrolments whose next step this is."""


@dataclass(frozen=True)
class TrackStats:
    track: str
    name: str | None
    counts: TrackCounts
    steps: list[StepCount]
    """Per step of the track's current schedule (none when the track is gone)."""


class Views:
    """The read side: a lead in nurture, a track's statistics."""

    def __init__(self, catalog: TrackCatalog, consent: Consent, engagements: Engagements) -> None:
        self.catalog = catalog
        self.consent = consent
        self.engagements = engagements

    async def lead_view(self, conn: Conn, lead_id: str) -> LeadInNurture | None:
        lead = await leads.get_lead(conn, lead_id)
        enrolment = await enrolments.latest_enrolment(conn, lead_id)
        if lead is None and enrolment is None:
            return None
        catalog = await self.catalog.current(conn)
        track = catalog.tracks.get(enrolment.track) if enrolment else None
        return LeadInNurture(
            lead_id=lead_id,
            consent=await self.consent.check(conn, lead.profile if lead else None, track),
            engagement=await self.engagements.summary(conn, lead_id),
            emails=await messages.messages_for_lead(conn, lead_id, 100),
            tasks=await tasks.tasks_for_lead(conn, lead_id, 100),
            enrolment=enrolment,
            track=track,
            steps=expand(track) if track else [],
        )

    async def track_stats(self, conn: Conn, track_id: str) -> TrackStats | None:
        catalog = await self.catalog.current(conn)
        stats = await statistics.track_stats(conn, track_id)
        track = catalog.tracks.get(track_id)
        if track is None and stats.enrolled == 0:
            return None
        steps: list[StepCount] = []
        if track is not None:
            counts = await statistics.enrolments_by_step(conn, track_id)
            for s in expand(track):
                steps.append(
                    StepCount(
                        number=s.number,
                        day=s.day,
                        action=s.action,
                        reached=sum(n for (done, _), n in counts.items() if done >= s.number),
                        waiting=counts.get((s.number - 1, "active"), 0),
                    )
                )
        return TrackStats(track_id, track.name if track else None, stats, steps)
