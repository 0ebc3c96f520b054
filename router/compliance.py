"""Judging the reps: their SLA compliance over the rolling window (since a reinstatement, when
later), suspending a rep who falls below the threshold, and a manager's own suspensions and
reinstatements.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from contracts.events import RepReinstated, RepSuspended
from router import metrics, repository
from router.domain import Domain
from router.records import Changer, ComplianceReport, RepRecord, Share
from router.repository import Conn
from services.db import Tx
from services.errors import Conflict

log = logging.getLogger(__name__)


class Compliance(Domain):
    """A rep's SLA compliance, the judgement and a manager's suspensions."""

    def window(self, rep: RepRecord, now: datetime) -> datetime:
        """Where the obligations the rep is judged on start: the rolling window, or the
        reinstatement when it is later (what came before it was judged already)."""
        since = now - timedelta(days=self.settings.compliance_window_days)
        if rep.reinstated_at is not None and rep.reinstated_at > since:
            return rep.reinstated_at
        return since

    async def compliance(self, conn: Conn, rep: RepRecord, now: datetime) -> ComplianceReport:
        """The rep's compliance as the next judgement will see it (`window`)."""
        since = self.window(rep, now)
        counts = await repository.compliance.compliance_counts(conn, rep.id, since, now)
        obligations = counts.first_touch_due + counts.cadences_ended
        met = counts.first_touch_met + counts.cadences_completed
        return ComplianceReport(
            rep_id=rep.id,
            window_days=self.settings.compliance_window_days,
            since=since,
            until=now,
            first_touch=Share(
                due=counts.first_touch_due,
                met=counts.first_touch_met,
                share=_share(counts.first_touch_met, counts.first_touch_due),
            ),
            cadence=Share(
                due=counts.cadences_ended,
                met=counts.cadences_completed,
                share=_share(counts.cadences_completed, counts.cadences_ended),
            ),
            obligations=obligations,
            compliance=_share(met, obligations),
            threshold=self.settings.compliance_threshold,
            min_obligations=self.settings.compliance_min_obligations,
            suspended=rep.suspended,
            suspended_at=rep.suspended_at,
            suspended_reason=rep.suspended_reason,
            reinstated_at=rep.reinstated_at,
        )

    async def judge(self, tx: Tx, rep_id: str) -> None:
        """Suspend the rep when their compliance fell below the threshold. Obligations
        before a reinstatement do not count again."""
        rep = await repository.reps.get_rep(tx, rep_id)
        if rep is None or rep.suspended:
            return
        now = tx.now()
        since = self.window(rep, now)
        counts = await repository.compliance.compliance_counts(tx, rep_id, since, now)
        obligations = counts.first_touch_due + counts.cadences_ended
        if obligations < self.settings.compliance_min_obligations:
            return
        met = counts.first_touch_met + counts.cadences_completed
        share = met / obligations
        threshold = self.settings.compliance_threshold
        if share >= threshold:
            return
        reason = (
            f"{met} of {obligations} SLA obligations met since {since:%Y-%m-%d %H:%M} UTC "
            f"({share:.0%}), below the threshold of {threshold:.0%}"
        )
        # The last change is the router's own: no API key made it.
        changes = {"suspended_at": now, "suspended_reason": reason, "updated_at": now}
        await repository.reps.update_rep(
            tx, rep_id, {**changes, "changed_by": None, "changed_by_name": None}
        )
        await self.say(
            tx,
            RepSuspended(lead_id="", rep_id=rep_id, reason=reason, compliance=round(share, 4)),
            subject=f"rep:{rep_id}",
        )
        metrics.SUSPENSIONS.inc()
        log.warning("rep %s suspended from distribution: %s", rep_id, reason)

    async def suspend(self, tx: Tx, rep: RepRecord, reason: str, by: Changer) -> None:
        """A manager takes the rep out of the distribution, with a reason (`rep.suspended`,
        as the compliance job says it, with the key that did it)."""
        if rep.suspended:
            raise Conflict(f"Rep {rep.id!r} is suspended already: {rep.suspended_reason or ''}")
        now = tx.now()
        status = await self.compliance(tx, rep, now)
        met = status.first_touch.met + status.cadence.met
        await repository.reps.update_rep(
            tx,
            rep.id,
            {
                "suspended_at": now,
                "suspended_reason": reason,
                "suspended_by": by.key_id,
                "suspended_by_name": by.name,
                "updated_at": now,
                "changed_by": by.key_id,
                "changed_by_name": by.name,
            },
        )
        await self.say(
            tx,
            RepSuspended(
                lead_id="",
                rep_id=rep.id,
                reason=reason,
                compliance=round(met / status.obligations, 4) if status.obligations else 1.0,
                by=by.key_id,
            ),
            subject=f"rep:{rep.id}",
        )

    async def reinstate(self, tx: Tx, rep: RepRecord, reason: str | None, by: Changer) -> None:
        if not rep.suspended:
            raise Conflict(f"Rep {rep.id!r} is not suspended.")
        now = tx.now()
        await repository.reps.update_rep(
            tx,
            rep.id,
            {
                "suspended_at": None,
                "suspended_reason": None,
                "suspended_by": None,
                "suspended_by_name": None,
                "reinstated_at": now,
                "updated_at": now,
                "changed_by": by.key_id,
                "changed_by_name": by.name,
            },
        )
        await self.say(
            tx,
            RepReinstated(lead_id="", rep_id=rep.id, reason=reason),
            subject=f"rep:{rep.id}",
        )


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
