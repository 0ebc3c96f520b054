"""The archive and the read models: every event of every topic stored once, then folded
into the read models (`Archive.project`, a run at a time, and its `Run`).

Facts take their time from the event (`time`, or `at` where the event carries one), never
from the clock, so replaying the same events gives the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from audit import erasures
from audit.forecast import Basis, Forecast
from audit.money import to_cents
from audit.projection import STAGE_RANK, Assignment, LeadChange
from audit.records import EntryRow, LeadRow
from audit.redact import personal_values, redact_envelope
from audit.repository.assignments import (
    assignments_of,
    breach_assignment,
    end_assignments,
    insert_assignments,
    put_reps,
    touch_assignment,
)
from audit.repository.deals import put_deal
from audit.repository.events import archive, erased_among
from audit.repository.forecast import (
    insert_entries,
    leads_on_forecast,
    mark_entry_won,
    set_entry_reps,
)
from audit.repository.leads import Contact, get_lead, lead_rows, put_contacts, upsert_leads
from audit.repository.satisfaction_audits import (
    insert_satisfaction_audits,
    leads_with_satisfaction_audits,
    open_satisfaction_audit_for,
)
from audit.satisfaction_audits import SatisfactionAudits, sampled
from audit.settings import AuditSettings
from contracts.envelope import Envelope
from contracts.events import (
    AuditReason,
    ContactLogged,
    ErasureCompleted,
    EventData,
    LeadAssigned,
    LeadCaptured,
    LeadDeferred,
    LeadDisqualified,
    LeadMerged,
    LeadProfile,
    LeadQualified,
    LeadReassigned,
    LeadRecycled,
    LeadReturned,
    OpportunityClosed,
    OpportunityOpened,
    SlaBreached,
    is_touch,
)
from services.db import Tx
from services.decoding import said_record
from services.sqltypes import EncodedJson

# The router's newer events are handled by type name and read defensively (their fields are
# still moving), so audit keeps working whichever of them exist.
LEAD_ACCEPTED = "leadfarm.lead.accepted.v1"
LEAD_REJECTED = "leadfarm.lead.rejected.v1"
OPPORTUNITY_OPENED = "leadfarm.opportunity.opened.v1"


def _time(envelope: Envelope, data: EventData, field: str = "at") -> datetime:
    """The moment the event reports (`at`, when it carries one), else when it was said."""
    value = getattr(data, field, None)
    return value if isinstance(value, datetime) else envelope.time


class Run:
    """What a run of events does to the read models, not written yet: folded in memory per
    row (`audit.projection`) and written with one statement per table at `flush`.

    The leads that may enter the forecast or be sampled for an audit are read once, with
    whether they are on the forecast or were audited, so those decisions are taken in
    memory on the lead's row as of the event. A projection that reads the read models
    otherwise, or writes them its own way, flushes first, so it sees every earlier event of
    the run exactly as if each had had its own transaction."""

    def __init__(
        self,
        tx: Tx,
        assignments: Sequence[Assignment],
        rows: dict[str, LeadRow | None],
        on_forecast: set[str],
        audited: set[str],
    ) -> None:
        self.tx = tx
        self.leads: dict[str, LeadChange] = {}
        self.assignments: dict[str, list[Assignment]] = defaultdict(list)
        for assignment in assignments:
            self.assignments[assignment.lead_id].append(assignment)
        self.rows = rows
        self.on_forecast = on_forecast
        self.audited = audited
        self.basis: Basis | None = None
        self.new_assignments: dict[str, Assignment] = {}
        self.ended: dict[str, datetime] = {}
        self.reps: dict[str, str] = {}
        self.entries: list[EntryRow] = []
        self.entry_reps: dict[str, str] = {}
        self.satisfaction_audits: list[dict[str, Any]] = []
        self.contacts: dict[str, Contact] = {}
        self.erased: set[str] = set()

    def lead(self, envelope: Envelope, data: EventData) -> LeadChange:
        """The run's change to the event's lead, with the profile the event carries."""
        change = self.leads.get(data.lead_id)
        if change is None:
            change = self.leads[data.lead_id] = LeadChange(data.lead_id, envelope.time)
        else:
            change.seen(envelope.time)
        profile = getattr(data, "lead", None)
        if isinstance(profile, LeadProfile):
            change.profile(
                source=profile.source,
                source_class=profile.source_class,
                campaign=profile.campaign,
                is_test=profile.is_test,
                timeframe_days=profile.timeframe_days,
            )
            if (profile.email or profile.company) and data.lead_id not in self.erased:
                self.contacts[data.lead_id] = Contact(data.lead_id, profile.email, profile.company)
        return change

    def state(self, lead_id: str) -> LeadRow:
        """The lead's row as of now (a lead the run read, after one of its events)."""
        return self.leads[lead_id].merged_into(self.rows[lead_id])

    def assign(self, envelope: Envelope, data: LeadAssigned | LeadReassigned) -> bool:
        """Store the assignment, end the lead's open ones made no later, make its rep the
        lead's; True when the lead had no assignment before."""
        at = envelope.time
        known = self.assignments[data.lead_id]
        first = not known
        if all(a.assignment_id != data.assignment_id for a in known):
            for other in known:
                if other.ended_at is None and other.assigned_at <= at:
                    other.ended_at = at
                    if other.assignment_id not in self.new_assignments:
                        self.ended[other.assignment_id] = at
            new = Assignment(
                data.assignment_id, data.lead_id, data.rep_id, at, data.first_touch_due_at
            )
            known.append(new)
            self.new_assignments[new.assignment_id] = new
        self.lead(envelope, data).assign(data.rep_id, at, data.first_touch_due_at)
        self.reps[data.rep_id] = data.rep_name
        self.entry_reps[data.lead_id] = data.rep_id
        return first

    async def flush(self) -> None:
        tx = self.tx
        for lead_id, change in self.leads.items():
            if lead_id in self.rows:
                self.rows[lead_id] = change.merged_into(self.rows[lead_id])
        await upsert_leads(tx, list(self.leads.values()))
        await insert_assignments(tx, list(self.new_assignments.values()))
        await end_assignments(tx, self.ended)
        await put_reps(tx, self.reps)
        await insert_entries(tx, self.entries)
        await set_entry_reps(tx, self.entry_reps)
        await insert_satisfaction_audits(tx, self.satisfaction_audits)
        await put_contacts(tx, list(self.contacts.values()))
        self.contacts = {}
        self.leads, self.new_assignments, self.ended = {}, {}, {}
        self.reps, self.entries, self.entry_reps, self.satisfaction_audits = {}, [], {}, []
        self.basis = None  # what runs next may close a deal


Projection = Callable[[Run, Envelope, Any], Awaitable[None]]


class Archive:
    """Archives every event and keeps the read models; what a run decides about the forecast
    and Prospect Satisfaction audits is theirs to say."""

    def __init__(
        self,
        settings: AuditSettings,
        forecast: Forecast,
        satisfaction_audits: SatisfactionAudits,
    ) -> None:
        self.settings = settings
        self.forecast = forecast
        self.satisfaction_audits = satisfaction_audits
        self.projections: dict[str, Projection] = {
            LeadCaptured.TYPE: self._captured,
            LeadMerged.TYPE: self._profiled,
            LeadRecycled.TYPE: self._profiled,
            LeadQualified.TYPE: self._qualified,
            LeadDeferred.TYPE: self._qualified,
            LeadDisqualified.TYPE: self._disqualified,
            LeadAssigned.TYPE: self._assigned,
            LeadReassigned.TYPE: self._assigned,
            ContactLogged.TYPE: self._contact,
            SlaBreached.TYPE: self._breached,
            LeadReturned.TYPE: self._returned,
            OpportunityClosed.TYPE: self._closed,
            LEAD_ACCEPTED: self._accepted,
            LEAD_REJECTED: self._rejected,
            OPPORTUNITY_OPENED: self._opened,
        }

    async def handle(self, tx: Tx, envelope: Envelope, data: EventData) -> None:
        """Archive one event and apply it to the read models (a run of one)."""
        await self.project(tx, [(envelope, data)])

    async def project(self, tx: Tx, events: Sequence[tuple[Envelope, EventData]]) -> None:
        """Archive a run of events, each once, then apply the ones stored now to the read
        models in order. The archive is one read (which of the run's leads are erased) and
        one multi-row insert; the read models are folded in memory and written per table
        (`Run`), so a run costs about the same few statements whatever its length."""
        erased = await erased_among(tx, {envelope.subject for envelope, _ in events})
        now = tx.now()
        rows: list[dict[str, Any]] = []
        for envelope, _ in events:
            redacted = envelope.subject in erased
            stored: dict[str, Any] | EncodedJson
            if redacted:
                # a late event about an erased person is stored already redacted
                document = envelope.model_dump(mode="json")
                stored = redact_envelope(document, personal_values(document.get("data")))
            else:
                said = said_record(envelope)  # said in this process: its bytes, not again
                stored = EncodedJson(said.decode() if said else envelope.model_dump_json())
            rows.append(
                {
                    "event_id": envelope.id,
                    "lead_id": envelope.subject,
                    "type": envelope.type,
                    "source": envelope.source,
                    "time": envelope.time,
                    "envelope": stored,
                    "recorded_at": now,
                    "redacted_at": now if redacted else None,
                }
            )
        fresh = await archive(tx, rows)
        todo: list[tuple[Envelope, EventData]] = []
        for envelope, data in events:
            if envelope.id in fresh:
                fresh.discard(envelope.id)  # an event twice in one run is applied once
                todo.append((envelope, data))
        assigned = {
            d.lead_id for _, d in todo if isinstance(d, LeadAssigned | LeadReassigned) and d.lead_id
        }
        forecast = {d.lead_id for _, d in todo if self.forecast.enters(d) and d.lead_id}
        sample = {lead_id for lead_id in assigned if sampled(lead_id, self.settings.sample_rate)}
        run = Run(
            tx,
            await assignments_of(tx, assigned),
            await lead_rows(tx, forecast | sample),
            await leads_on_forecast(tx, forecast),
            await leads_with_satisfaction_audits(tx, sample),
        )
        run.erased = erased
        for envelope, data in todo:
            projection = self.projections.get(envelope.type)
            if projection is not None and data.lead_id:
                await projection(run, envelope, data)
            if isinstance(data, ErasureCompleted):
                await erasures.confirmed(tx, data)
        await run.flush()

    async def _captured(self, run: Run, envelope: Envelope, data: LeadCaptured) -> None:
        run.lead(envelope, data).milestone("captured_at", envelope.time)

    async def _profiled(
        self, run: Run, envelope: Envelope, data: LeadMerged | LeadRecycled
    ) -> None:
        run.lead(envelope, data)

    async def _qualified(
        self, run: Run, envelope: Envelope, data: LeadQualified | LeadDeferred
    ) -> None:
        rank = STAGE_RANK[data.decision.stage]
        run.lead(envelope, data).stage(rank, data.decision.term, envelope.time)
        if self.forecast.enters(data):
            await self.forecast.enter(run, envelope, data.lead_id)

    async def _disqualified(self, run: Run, envelope: Envelope, data: LeadDisqualified) -> None:
        run.lead(envelope, data).milestone("disqualified_at", envelope.time)

    async def _assigned(
        self, run: Run, envelope: Envelope, data: LeadAssigned | LeadReassigned
    ) -> None:
        first = run.assign(envelope, data)
        if first and sampled(data.lead_id, self.settings.sample_rate):
            lead = run.state(data.lead_id)
            if not lead.is_test and data.lead_id not in run.audited:
                await self.satisfaction_audits.open_sampled(
                    run, envelope, data.lead_id, lead.rep_id
                )

    async def _contact(self, run: Run, envelope: Envelope, data: ContactLogged) -> None:
        if not is_touch(data):  # a note: archived, but sales has not followed up
            run.lead(envelope, data)
            return
        run.lead(envelope, data).touch(data.at)
        await run.flush()
        await touch_assignment(run.tx, data.lead_id, data.rep_id, data.at, data.assignment_id)

    async def _breached(self, run: Run, envelope: Envelope, data: SlaBreached) -> None:
        run.lead(envelope, data)
        await run.flush()
        await breach_assignment(
            run.tx,
            data.lead_id,
            data.rep_id,
            data.sla,
            envelope.time,
            getattr(data, "assignment_id", None),
        )

    async def _returned(self, run: Run, envelope: Envelope, data: LeadReturned) -> None:
        """Back to marketing: audit the prospect and ask a sales executive to take the lead
        off the forecast. The request quotes the router's reason code, never its free text
        (which can name the person and would travel in audit's own events)."""
        run.lead(envelope, data).milestone("returned_at", envelope.time)
        await run.flush()
        tx = run.tx
        code = getattr(data, "reason_code", None)
        reason: AuditReason = (
            "rejected" if "reject" in str(code or data.reason).lower() else "returned"
        )
        lead = await get_lead(tx, data.lead_id)
        if lead is None or lead.is_test:
            return
        if (
            self.settings.audit_returned
            and await open_satisfaction_audit_for(tx, data.lead_id) is None
        ):
            await self.satisfaction_audits.open_audit(tx, data.lead_id, reason, envelope)
            run.audited.add(data.lead_id)
        said = f"{reason} by sales" + (f" ({code})" if isinstance(code, str) and code else "")
        await self.forecast.request_for_system(tx, envelope, data.lead_id, said)

    async def _rejected(self, run: Run, envelope: Envelope, data: EventData) -> None:
        """A rep rejected the lead: audit the prospect (it may go to another rep, so it
        leaves the forecast only when it is returned)."""
        run.lead(envelope, data)
        await run.flush()
        tx = run.tx
        lead = await get_lead(tx, data.lead_id)
        if lead is None or lead.is_test or not self.settings.audit_returned:
            return
        if await open_satisfaction_audit_for(tx, data.lead_id) is None:
            await self.satisfaction_audits.open_audit(tx, data.lead_id, "rejected", envelope)
            run.audited.add(data.lead_id)

    async def _closed(self, run: Run, envelope: Envelope, data: OpportunityClosed) -> None:
        change = run.lead(envelope, data)
        change.milestone("opportunity_at", envelope.time)
        change.milestone("won_at" if data.won else "lost_at", envelope.time)
        await run.flush()
        tx = run.tx
        await put_deal(
            tx,
            opportunity_id=data.opportunity_id,
            lead_id=data.lead_id,
            rep_id=data.rep_id,
            won=data.won,
            amount_cents=to_cents(data.amount),
            currency=data.currency,
            closed_at=envelope.time,
        )
        if data.won:
            await mark_entry_won(tx, data.lead_id, to_cents(data.amount), data.currency)
        else:
            await self.forecast.request_for_system(
                tx, envelope, data.lead_id, "opportunity closed lost"
            )

    async def _accepted(self, run: Run, envelope: Envelope, data: EventData) -> None:
        run.lead(envelope, data).milestone("accepted_at", _time(envelope, data))

    async def _opened(self, run: Run, envelope: Envelope, data: EventData) -> None:
        """An opportunity opened is a touch too, as the router counts it (`is_touch`): a rep
        who opens one without logging the call has followed the lead up."""
        change = run.lead(envelope, data)
        change.milestone("opportunity_at", envelope.time)
        if not (isinstance(data, OpportunityOpened) and is_touch(data)):
            return
        change.touch(envelope.time)
        await run.flush()
        await touch_assignment(run.tx, data.lead_id, data.rep_id, envelope.time, data.assignment_id)
