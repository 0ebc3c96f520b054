"""Prospect Satisfaction audits: opened by the sampling policy, for rejected and returned
leads, or by a manager; recorded with what the prospect said (`audit.opened`,
`audit.recorded`)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from audit.records import SatisfactionAuditRow
from audit.reports.facts import (
    known_source_class,
)
from audit.repository.leads import get_lead
from audit.repository.satisfaction_audits import (
    get_satisfaction_audit,
    insert_satisfaction_audit,
    list_satisfaction_audits,
    open_satisfaction_audit_for,
    record_satisfaction_audit,
)
from audit.schemas import (
    AuditOutcomeIn,
)
from audit.settings import AuditSettings
from contracts.envelope import Envelope
from contracts.events import (
    AuditOpened,
    AuditReason,
    AuditRecorded,
)
from contracts.ids import new_id
from services.db import ReadConn, Tx
from services.errors import Conflict, NotFound
from services.outbox import emit

if TYPE_CHECKING:
    from audit.archive import Run


def sampled(lead_id: str, rate: float) -> bool:
    """Whether the sampling policy picks this lead: a hash of its id below `rate`, so every
    replica and every replay picks the same leads."""
    if rate <= 0:
        return False
    bucket = int.from_bytes(hashlib.sha256(lead_id.encode()).digest()[:8], "big") / 2**64
    return bucket < rate


class SatisfactionAudits:
    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings

    async def open_audit(
        self, tx: Tx, lead_id: str, reason: AuditReason, envelope: Envelope | None
    ) -> SatisfactionAuditRow:
        lead = await get_lead(tx, lead_id)
        opened = envelope.time if envelope is not None else tx.now()
        audit_id = new_id()
        due = opened + timedelta(days=self.settings.audit_after_days)
        rep_id = lead.rep_id if lead is not None else None
        await insert_satisfaction_audit(
            tx,
            audit_id=audit_id,
            lead_id=lead_id,
            reason=reason,
            opened_at=opened,
            due_at=due,
            rep_id=rep_id,
        )
        await emit(
            tx,
            AuditOpened(
                lead_id=lead_id, audit_id=audit_id, reason=reason, due_at=due, rep_id=rep_id
            ),
            traceparent=envelope.traceparent if envelope is not None else None,
        )
        audit = await get_satisfaction_audit(tx, audit_id)
        assert audit is not None
        return audit

    async def open_sampled(
        self, run: Run, envelope: Envelope, lead_id: str, rep_id: str | None
    ) -> None:
        """`open_audit` for the sampling policy, inside a run: the audit is written with the
        run's (one insert for the run's audits)."""
        due = envelope.time + timedelta(days=self.settings.audit_after_days)
        audit_id = new_id()
        run.satisfaction_audits.append(
            {
                "id": audit_id,
                "lead_id": lead_id,
                "reason": "sampled",
                "status": "open",
                "opened_at": envelope.time,
                "due_at": due,
                "rep_id": rep_id,
            }
        )
        run.audited.add(lead_id)
        await emit(
            run.tx,
            AuditOpened(
                lead_id=lead_id, audit_id=audit_id, reason="sampled", due_at=due, rep_id=rep_id
            ),
            traceparent=envelope.traceparent,
        )

    async def open_manual(self, tx: Tx, lead_id: str) -> SatisfactionAuditRow:
        """A manager asks for an audit of one lead."""
        if await get_lead(tx, lead_id) is None:
            raise NotFound(f"Audit has not seen lead {lead_id!r}.")
        existing = await open_satisfaction_audit_for(tx, lead_id)
        if existing is not None:
            raise Conflict(f"Lead {lead_id!r} already has an open audit, {existing.id}.")
        return await self.open_audit(tx, lead_id, "manual", None)

    async def record(
        self, tx: Tx, audit_id: str, body: AuditOutcomeIn, recorded_by: str
    ) -> SatisfactionAuditRow:
        """Record what the prospect said and say `audit.recorded`."""
        audit = await get_satisfaction_audit(tx, audit_id)
        if audit is None:
            raise NotFound(f"There is no audit with id {audit_id!r}.")
        if audit.status != "open":
            raise Conflict(f"Audit {audit_id} was recorded already, at {audit.recorded_at}.")
        lead = await get_lead(tx, audit.lead_id)
        erased = lead is not None and lead.erased_at is not None
        rep_id = (lead.rep_id if lead else None) or audit.rep_id
        logged = lead is not None and lead.first_touch_at is not None
        recorded = await record_satisfaction_audit(
            tx,
            audit_id,
            contacted=body.contacted,
            contact_count=body.contact_count,
            contacted_by=None if erased else body.contacted_by,
            contacted_within=body.contacted_within,
            satisfaction=body.satisfaction,
            outcome=body.outcome,
            comment=None if erased else body.comment,
            logged_contact=logged,
            rep_id=rep_id,
            source=lead.source if lead else None,
            source_class=lead.source_class if lead else None,
            recorded_at=tx.now(),
            recorded_by=recorded_by,
        )
        if not recorded:
            raise Conflict(f"Audit {audit_id} was recorded already.")
        await emit(
            tx,
            AuditRecorded(
                lead_id=audit.lead_id,
                audit_id=audit.id,
                contacted=body.contacted,
                satisfaction=body.satisfaction,
                outcome=body.outcome,
                contact_count=body.contact_count,
                contacted_by=None if erased else body.contacted_by,
                contacted_within=body.contacted_within,
                reason=cast(AuditReason, audit.reason),
                rep_id=rep_id,
                source=lead.source if lead else None,
                source_class=known_source_class(lead.source_class if lead else None),
                logged_contact=logged,
            ),
        )
        done = await get_satisfaction_audit(tx, audit_id)
        assert done is not None
        return done

    @staticmethod
    async def get(conn: ReadConn, audit_id: str) -> SatisfactionAuditRow | None:
        return await get_satisfaction_audit(conn, audit_id)

    @staticmethod
    async def list_audits(
        conn: ReadConn, *, status: str | None, due_by: datetime | None, limit: int
    ) -> list[SatisfactionAuditRow]:
        """Audits, soonest due first (`due_by`: those due by then)."""
        return await list_satisfaction_audits(conn, status=status, due_by=due_by, limit=limit)
