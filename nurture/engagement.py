"""Engagement: record what a lead did, score it (decayed points), and hand the lead back to
the qualifier (`lead.recycled`) when it raises a hand or its score reaches the threshold.
Every method runs inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.events import LeadRecycled
from contracts.ids import new_id
from nurture import metrics
from nurture.catalog import TrackCatalog
from nurture.definitions import EngagementType
from nurture.errors import InvalidToken, NotInNurture
from nurture.links import Links
from nurture.records import EngagementSignal, Enrolment, NurturedLead
from nurture.repository import engagements, enrolments, leads, messages
from nurture.scoring import score
from nurture.signing import CLICK
from nurture.tracks import end
from services.clock import Clock
from services.db import Conn, Tx
from services.outbox import emit

RECYCLE_HISTORY = 50


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
class EngagementScore:
    """A lead's engagement now: the decayed score, the threshold that sends it back to the
    qualifier, and what it did since it was last sent back (newest first)."""

    score: float
    threshold: float
    recycled_at: datetime | None
    history: list[EngagementSignal]


class Engagements:
    """What leads do: record it, score it, and send a lead that warmed up back to the
    qualifier (`lead.recycled`)."""

    def __init__(self, catalog: TrackCatalog, clock: Clock, links: Links) -> None:
        self.catalog = catalog
        self.clock = clock
        self.links = links

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
            seen = await engagements.engagement_by_external_id(tx, external_id)
            if seen is not None:
                return await self._outcome(tx, seen, duplicate=True)
        if message_id and not lead_id:
            message = await messages.get_message(tx, message_id)
            if message is None:
                raise NotInNurture(
                    f"no email {message_id!r} in nurture; "
                    "engagement is recorded for leads in nurture."
                )
            lead_id = message.lead_id
        assert lead_id is not None
        lead = await leads.get_lead(tx, lead_id)
        if lead is None:
            raise NotInNurture(
                f"lead {lead_id!r} is not in nurture; engagement is recorded for leads in nurture."
            )
        catalog = await self.catalog.current(tx)
        latest = await enrolments.latest_enrolment(tx, lead_id)
        track = catalog.tracks.get(latest.track) if latest else None
        now = tx.now()
        hand_raise = hand_raise or kind == "hand_raise"
        engagement_id = new_id()
        await engagements.insert_engagement(
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
        history = await engagements.engagements_since(tx, lead_id, lead.recycled_at)
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

    async def _outcome(
        self, conn: Conn, seen: EngagementSignal, *, duplicate: bool
    ) -> EngageOutcome:
        view = await self.summary(conn, seen.lead_id)
        return EngageOutcome(
            seen.id, seen.lead_id, duplicate, view.score, view.threshold, False, "a duplicate"
        )

    async def _recycle(
        self,
        tx: Tx,
        lead: NurturedLead,
        enrolment: Enrolment | None,
        history: list[EngagementSignal],
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
        await leads.put_lead(tx, lead.lead_id, lead.email_hash, profile, now)
        await leads.set_recycled(tx, lead.lead_id, now)
        reason = (
            f"raised a hand ({kind})"
            if hand_raise
            else f"engagement score {current:g} reached the threshold {threshold:g}"
        )
        if enrolment is not None and enrolment.status in ("active", "completed"):
            await end(tx, enrolment, "recycled", reason)
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
        signer = await self.links.signer(tx)
        payload = signer.verify(CLICK, token) if signer else None
        if payload is None or not isinstance(payload.get("u"), str):
            raise InvalidToken("This link is not valid (it may have been cut short).")
        url, lead_id = str(payload["u"]), str(payload.get("l", ""))
        message_id = payload.get("m") if isinstance(payload.get("m"), str) else None
        if await leads.get_lead(tx, lead_id) is not None:
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

    async def summary(self, conn: Conn, lead_id: str) -> EngagementScore:
        catalog = await self.catalog.current(conn)
        lead = await leads.get_lead(conn, lead_id)
        latest = await enrolments.latest_enrolment(conn, lead_id)
        track = catalog.tracks.get(latest.track) if latest else None
        history = await engagements.engagements_since(
            conn, lead_id, lead.recycled_at if lead else None
        )
        now = conn.now() if isinstance(conn, Tx) else self.clock.now()
        return EngagementScore(
            score=score(
                ((e.at, e.points) for e in history), now, catalog.engagement.half_life_days
            ),
            threshold=catalog.threshold_for(track),
            recycled_at=lead.recycled_at if lead else None,
            history=history,
        )


def _history_item(e: EngagementSignal) -> dict[str, Any]:
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
