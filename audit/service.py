"""audit's domain: archive every event once, build the read models the metrics need, open
and record Prospect Satisfaction audits, keep the forecast and its removal workflow, and
erase a person's data on request.

Facts take their time from the event (`time`, or `at` where the event carries one), never
from the clock, so replaying the same events gives the same numbers.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, cast

from audit import repository
from audit.projection import Assignment, LeadChange
from audit.redact import personal_values, redact_envelope, scrub_text
from audit.reports import marketing, sales
from audit.reports.facts import SOURCE_CLASSES, UNKNOWN, Interval, LeadDimension, Report
from audit.repository import Conn, EntryRow, ErasureRow, RequestRow, RoleRow, SatisfactionAuditRow
from audit.schemas import (
    AuditOutcomeIn,
    ErasureConfirmation,
    ErasureOut,
    ForecastBasis,
    ForecastOut,
    ForecastRow,
)
from audit.settings import AuditSettings
from contracts.envelope import Envelope
from contracts.events import (
    AuditOpened,
    AuditReason,
    AuditRecorded,
    ContactLogged,
    ErasureCompleted,
    ErasureRequested,
    EventData,
    ForecastChanged,
    ForecastRemovalDecided,
    ForecastRemovalRequested,
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
    SourceClass,
    is_touch,
)
from contracts.topics import SERVICES
from services import erasure
from services.db import ReadConn, Tx
from services.outbox import emit

SALES_EXECUTIVE = "sales_executive"
STAGE_RANK = {"raw": 0, "basic_qualified": 1, "sales_qualified": 2}
STAGE_NAMES = {rank: name for name, rank in STAGE_RANK.items()}
ROLE_SCOPES = ("manager", "admin")

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
        rows: dict[str, dict[str, Any] | None],
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
        self.contacts: dict[str, repository.Contact] = {}
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
                self.contacts[data.lead_id] = repository.Contact(
                    data.lead_id, profile.email, profile.company
                )
        return change

    def state(self, lead_id: str) -> dict[str, Any]:
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
        await repository.upsert_leads(tx, list(self.leads.values()))
        await repository.insert_assignments(tx, list(self.new_assignments.values()))
        await repository.end_assignments(tx, self.ended)
        await repository.put_reps(tx, self.reps)
        await repository.insert_entries(tx, self.entries)
        await repository.set_entry_reps(tx, self.entry_reps)
        await repository.insert_satisfaction_audits(tx, self.satisfaction_audits)
        await repository.put_contacts(tx, list(self.contacts.values()))
        self.contacts = {}
        self.leads, self.new_assignments, self.ended = {}, {}, {}
        self.reps, self.entries, self.entry_reps, self.satisfaction_audits = {}, [], {}, []
        self.basis = None  # what runs next may close a deal


Projection = Callable[[Run, Envelope, Any], Awaitable[None]]


class AuditError(Exception):
    """A request audit refuses; `status` is the HTTP status the API answers with."""

    status = 400


class NotFound(AuditError):
    status = 404


class Conflict(AuditError):
    status = 409


class NotAllowed(AuditError):
    status = 403


class Invalid(AuditError):
    status = 422

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def sampled(lead_id: str, rate: float) -> bool:
    """Whether the sampling policy picks this lead: a hash of its id below `rate`, so every
    replica and every replay picks the same leads."""
    if rate <= 0:
        return False
    bucket = int.from_bytes(hashlib.sha256(lead_id.encode()).digest()[:8], "big") / 2**64
    return bucket < rate


def to_cents(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def month_bounds(first: str | None, last: str | None) -> tuple[datetime | None, datetime | None]:
    """[start of `first`, start of the month after `last`) for YYYY-MM months."""
    start = end = None
    if first is not None:
        start = datetime(int(first[:4]), int(first[5:7]), 1, tzinfo=UTC)
    if last is not None:
        year, month = int(last[:4]), int(last[5:7])
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _source_class(value: str | None) -> SourceClass | None:
    return cast(SourceClass, value) if value in SOURCE_CLASSES else None


@dataclass(frozen=True)
class Basis:
    share: Decimal
    average_cents: int
    learned: bool
    won_deals: int
    min_won_deals: int

    @property
    def per_lead_cents(self) -> int:
        return to_cents(from_cents(self.average_cents) * self.share)


class Audit:
    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings
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

    # --- the archive and the read models ---------------------------------------------------

    async def handle(self, tx: Tx, envelope: Envelope, data: EventData) -> None:
        """Archive one event and apply it to the read models (a run of one)."""
        await self.project(tx, [(envelope, data)])

    async def project(self, tx: Tx, events: Sequence[tuple[Envelope, EventData]]) -> None:
        """Archive a run of events, each once, then apply the ones stored now to the read
        models in order. The archive is one read (which of the run's leads are erased) and
        one multi-row insert; the read models are folded in memory and written per table
        (`Run`), so a run costs about the same few statements whatever its length."""
        erased = await repository.erased_among(tx, {envelope.subject for envelope, _ in events})
        now = tx.now()
        rows: list[dict[str, Any]] = []
        for envelope, _ in events:
            stored = envelope.model_dump(mode="json")
            redacted = envelope.subject in erased
            if redacted:
                # a late event about an erased person is stored already redacted
                stored = redact_envelope(stored, personal_values(stored.get("data")))
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
        fresh = await repository.archive(tx, rows)
        todo: list[tuple[Envelope, EventData]] = []
        for envelope, data in events:
            if envelope.id in fresh:
                fresh.discard(envelope.id)  # an event twice in one run is applied once
                todo.append((envelope, data))
        assigned = {
            d.lead_id for _, d in todo if isinstance(d, LeadAssigned | LeadReassigned) and d.lead_id
        }
        forecast = {d.lead_id for _, d in todo if self._enters_forecast(d) and d.lead_id}
        sample = {lead_id for lead_id in assigned if sampled(lead_id, self.settings.sample_rate)}
        run = Run(
            tx,
            await repository.assignments_of(tx, assigned),
            await repository.lead_rows(tx, forecast | sample),
            await repository.leads_on_forecast(tx, forecast),
            await repository.leads_with_satisfaction_audits(tx, sample),
        )
        run.erased = erased
        for envelope, data in todo:
            projection = self.projections.get(envelope.type)
            if projection is not None and data.lead_id:
                await projection(run, envelope, data)
            if isinstance(data, ErasureCompleted):
                await self._erasure_confirmed(tx, data)
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
        if self._enters_forecast(data):
            await self._enter_forecast(run, envelope, data.lead_id)

    @staticmethod
    def _enters_forecast(data: EventData) -> bool:
        """A sales-qualified short-term lead enters the forecast."""
        return (
            isinstance(data, LeadQualified)
            and STAGE_RANK[data.decision.stage] == 2
            and data.decision.term == "short"
        )

    async def _disqualified(self, run: Run, envelope: Envelope, data: LeadDisqualified) -> None:
        run.lead(envelope, data).milestone("disqualified_at", envelope.time)

    async def _assigned(
        self, run: Run, envelope: Envelope, data: LeadAssigned | LeadReassigned
    ) -> None:
        first = run.assign(envelope, data)
        if first and sampled(data.lead_id, self.settings.sample_rate):
            lead = run.state(data.lead_id)
            if not lead["is_test"] and data.lead_id not in run.audited:
                await self._open_sampled_audit(run, envelope, data.lead_id, lead["rep_id"])

    async def _contact(self, run: Run, envelope: Envelope, data: ContactLogged) -> None:
        if not is_touch(data):  # a note: archived, but sales has not followed up
            run.lead(envelope, data)
            return
        run.lead(envelope, data).touch(data.at)
        await run.flush()
        await repository.touch_assignment(
            run.tx, data.lead_id, data.rep_id, data.at, data.assignment_id
        )

    async def _breached(self, run: Run, envelope: Envelope, data: SlaBreached) -> None:
        run.lead(envelope, data)
        await run.flush()
        await repository.breach_assignment(
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
        lead = await repository.get_lead(tx, data.lead_id)
        if lead is None or lead.is_test:
            return
        if (
            self.settings.audit_returned
            and await repository.open_satisfaction_audit_for(tx, data.lead_id) is None
        ):
            await self._open_audit(tx, data.lead_id, reason, envelope)
            run.audited.add(data.lead_id)
        said = f"{reason} by sales" + (f" ({code})" if isinstance(code, str) and code else "")
        await self._system_request(tx, envelope, data.lead_id, said)

    async def _rejected(self, run: Run, envelope: Envelope, data: EventData) -> None:
        """A rep rejected the lead: audit the prospect (it may go to another rep, so it
        leaves the forecast only when it is returned)."""
        run.lead(envelope, data)
        await run.flush()
        tx = run.tx
        lead = await repository.get_lead(tx, data.lead_id)
        if lead is None or lead.is_test or not self.settings.audit_returned:
            return
        if await repository.open_satisfaction_audit_for(tx, data.lead_id) is None:
            await self._open_audit(tx, data.lead_id, "rejected", envelope)
            run.audited.add(data.lead_id)

    async def _closed(self, run: Run, envelope: Envelope, data: OpportunityClosed) -> None:
        change = run.lead(envelope, data)
        change.milestone("opportunity_at", envelope.time)
        change.milestone("won_at" if data.won else "lost_at", envelope.time)
        await run.flush()
        tx = run.tx
        await repository.put_deal(
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
            await repository.mark_entry_won(tx, data.lead_id, to_cents(data.amount), data.currency)
        else:
            await self._system_request(tx, envelope, data.lead_id, "opportunity closed lost")

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
        await repository.touch_assignment(
            run.tx, data.lead_id, data.rep_id, envelope.time, data.assignment_id
        )

    # --- Prospect Satisfaction audits ------------------------------------------------------

    async def _open_audit(
        self, tx: Tx, lead_id: str, reason: AuditReason, envelope: Envelope | None
    ) -> SatisfactionAuditRow:
        lead = await repository.get_lead(tx, lead_id)
        opened = envelope.time if envelope is not None else tx.now()
        audit_id = str(uuid.uuid4())
        due = opened + timedelta(days=self.settings.audit_after_days)
        rep_id = lead.rep_id if lead is not None else None
        await repository.insert_satisfaction_audit(
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
        satisfaction_audit = await repository.get_satisfaction_audit(tx, audit_id)
        assert satisfaction_audit is not None
        return satisfaction_audit

    async def _open_sampled_audit(
        self, run: Run, envelope: Envelope, lead_id: str, rep_id: str | None
    ) -> None:
        """`_open_audit` for the sampling policy, inside a run: the audit is written with the
        run's (one insert for the run's audits)."""
        due = envelope.time + timedelta(days=self.settings.audit_after_days)
        audit_id = str(uuid.uuid4())
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

    async def open_audit(self, tx: Tx, lead_id: str) -> SatisfactionAuditRow:
        """A manager asks for an audit of one lead."""
        if await repository.get_lead(tx, lead_id) is None:
            raise NotFound(f"Audit has not seen lead {lead_id!r}.")
        existing = await repository.open_satisfaction_audit_for(tx, lead_id)
        if existing is not None:
            raise Conflict(f"Lead {lead_id!r} already has an open audit, {existing.id}.")
        return await self._open_audit(tx, lead_id, "manual", None)

    async def record_audit(
        self, tx: Tx, audit_id: str, body: AuditOutcomeIn, recorded_by: str
    ) -> SatisfactionAuditRow:
        """Record what the prospect said and say `audit.recorded`."""
        satisfaction_audit = await repository.get_satisfaction_audit(tx, audit_id)
        if satisfaction_audit is None:
            raise NotFound(f"There is no audit with id {audit_id!r}.")
        if satisfaction_audit.status != "open":
            raise Conflict(
                f"Audit {audit_id} was recorded already, at {satisfaction_audit.recorded_at}."
            )
        lead = await repository.get_lead(tx, satisfaction_audit.lead_id)
        erased = lead is not None and lead.erased_at is not None
        rep_id = (lead.rep_id if lead else None) or satisfaction_audit.rep_id
        logged = lead is not None and lead.first_touch_at is not None
        recorded = await repository.record_satisfaction_audit(
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
                lead_id=satisfaction_audit.lead_id,
                audit_id=satisfaction_audit.id,
                contacted=body.contacted,
                satisfaction=body.satisfaction,
                outcome=body.outcome,
                contact_count=body.contact_count,
                contacted_by=None if erased else body.contacted_by,
                contacted_within=body.contacted_within,
                reason=cast(AuditReason, satisfaction_audit.reason),
                rep_id=rep_id,
                source=lead.source if lead else None,
                source_class=_source_class(lead.source_class if lead else None),
                logged_contact=logged,
            ),
        )
        done = await repository.get_satisfaction_audit(tx, audit_id)
        assert done is not None
        return done

    # --- the forecast ----------------------------------------------------------------------

    async def basis(self, conn: Conn) -> Basis:
        """10% (configurable) of the average deal size: from closed-won deals once there are
        enough of them, the configured default until then."""
        s = self.settings
        count, total = await repository.won_deals(conn, s.currency)
        learned = count >= s.min_won_deals
        average = round(total / count) if learned else to_cents(s.default_deal_size)
        return Basis(s.forecast_share, average, learned, count, s.min_won_deals)

    async def _enter_forecast(self, run: Run, envelope: Envelope, lead_id: str) -> None:
        """Put the lead on the forecast, unless it is a test lead or on it already: decided
        on the lead's row as of the event, written with the run's entries."""
        lead = run.state(lead_id)
        if lead["is_test"] or lead_id in run.on_forecast:
            return
        if run.basis is None:
            run.basis = await self.basis(run.tx)
        basis = run.basis
        days = lead["timeframe_days"]
        close = envelope.time + timedelta(
            days=days if days is not None else self.settings.default_close_days
        )
        # Won before its qualification arrived (topics are not ordered with each other):
        # on the forecast at the deal's amount, as `mark_entry_won` would have put it.
        won = None
        if lead["won_at"] is not None:  # its deal is stored: `_closed` writes it at once
            won = await repository.won_amount(run.tx, lead_id, self.settings.currency)
        entry = EntryRow(
            id=str(uuid.uuid4()),
            lead_id=lead_id,
            status="won" if lead["won_at"] is not None else "open",
            amount_cents=won if won is not None else basis.per_lead_cents,
            currency=self.settings.currency,
            period=close.strftime("%Y-%m"),
            expected_close_at=close,
            entered_at=envelope.time,
            source=lead["source"],
            source_class=lead["source_class"],
            rep_id=lead["rep_id"],
            removed_at=None,
            removal_request_id=None,
        )
        run.entries.append(entry)
        run.on_forecast.add(lead_id)
        share = f"{float(basis.share) * 100:g}%"
        size = "closed-won average" if basis.learned else "default"
        reason = (
            "sales-qualified short-term lead, won already: the deal's amount"
            if won is not None
            else f"sales-qualified short-term lead: {share} of the {size} deal size"
        )
        await emit(
            run.tx,
            ForecastChanged(
                lead_id=lead_id,
                action="added",
                amount=from_cents(entry.amount_cents),
                reason=reason,
                currency=entry.currency,
                period=entry.period,
                rep_id=entry.rep_id,
                source=entry.source,
                source_class=_source_class(entry.source_class),
            ),
            traceparent=envelope.traceparent,
        )

    async def request_removal(
        self, tx: Tx, lead_id: str, reason: str, requested_by: str, traceparent: str | None
    ) -> RequestRow:
        """Ask for the lead to leave the forecast; only a sales executive decides."""
        entry = await repository.current_entry(tx, lead_id)
        if entry is None:
            raise NotFound(f"Lead {lead_id!r} is not on the forecast.")
        if entry.status != "open":
            raise Conflict(f"Lead {lead_id!r} was won; a won lead stays on the forecast.")
        pending = await repository.pending_request_for(tx, entry.id)
        if pending is not None:
            raise Conflict(
                f"Lead {lead_id!r} already has a pending removal request, {pending.id}; "
                "a sales executive approves or denies it."
            )
        request = RequestRow(
            id=str(uuid.uuid4()),
            lead_id=lead_id,
            entry_id=entry.id,
            status="pending",
            reason=reason,
            requested_by=requested_by,
            requested_at=tx.now(),
            decided_by=None,
            decided_at=None,
            decision_reason=None,
        )
        await repository.insert_request(tx, request)
        await emit(
            tx,
            ForecastRemovalRequested(
                lead_id=lead_id, request_id=request.id, requested_by=requested_by, reason=reason
            ),
            traceparent=traceparent,
        )
        return request

    async def _system_request(self, tx: Tx, envelope: Envelope, lead_id: str, reason: str) -> None:
        """A lost or returned lead stays on the forecast until a sales executive agrees: file
        the request for them."""
        entry = await repository.current_entry(tx, lead_id)
        if entry is None or entry.status != "open":
            return
        if await repository.pending_request_for(tx, entry.id) is not None:
            return
        by = "system:" + envelope.type.removeprefix("leadfarm.").rsplit(".", 1)[0]
        await self.request_removal(tx, lead_id, reason, by, envelope.traceparent)

    async def decide_removal(
        self,
        tx: Tx,
        request_id: str,
        *,
        approve: bool,
        reason: str,
        decided_by: str,
        traceparent: str | None,
    ) -> RequestRow:
        if not await repository.has_role(tx, decided_by, SALES_EXECUTIVE):
            raise NotAllowed(
                "Only a sales executive approves or denies a forecast removal; an admin grants "
                "the role with POST /audit/v1/roles/sales-executive."
            )
        request = await repository.get_request(tx, request_id)
        if request is None:
            raise NotFound(f"There is no forecast removal request with id {request_id!r}.")
        decision: Literal["approved", "denied"] = "approved" if approve else "denied"
        if not await repository.decide_request(
            tx, request_id, status=decision, decided_by=decided_by, reason=reason
        ):
            raise Conflict(f"Request {request_id} was {request.status} already.")
        await emit(
            tx,
            ForecastRemovalDecided(
                lead_id=request.lead_id,
                request_id=request_id,
                decision=decision,
                decided_by=decided_by,
                reason=reason,
            ),
            traceparent=traceparent,
        )
        if approve:
            entry = await repository.get_entry(tx, request.entry_id)
            if entry is not None and entry.status != "removed":
                await repository.remove_entry(tx, entry.id, request_id)
                await emit(
                    tx,
                    ForecastChanged(
                        lead_id=request.lead_id,
                        action="removed",
                        amount=from_cents(entry.amount_cents),
                        reason=request.reason,
                        currency=entry.currency,
                        period=entry.period,
                        rep_id=entry.rep_id,
                        source=entry.source,
                        source_class=_source_class(entry.source_class),
                        request_id=request_id,
                        approved_by=decided_by,
                    ),
                    traceparent=traceparent,
                )
        done = await repository.get_request(tx, request_id)
        assert done is not None
        return done

    async def forecast(self, conn: ReadConn, first: str | None, last: str | None) -> ForecastOut:
        """The forecast's totals by expected close month, source, source class and rep."""
        rows = await repository.entries(conn, first=first, last=last)
        pending = {
            r.entry_id for r in await repository.list_requests(conn, status="pending", limit=10**6)
        }
        basis = await self.basis(conn)

        def total(key: str, group: Sequence[EntryRow]) -> ForecastRow:
            def amount(status: str) -> Decimal:
                return from_cents(sum(e.amount_cents for e in group if e.status == status))

            return ForecastRow(
                key=key,
                open_leads=sum(1 for e in group if e.status == "open"),
                open_amount=amount("open"),
                won_leads=sum(1 for e in group if e.status == "won"),
                won_amount=amount("won"),
                pending_removal=sum(1 for e in group if e.status == "open" and e.id in pending),
                removed_leads=sum(1 for e in group if e.status == "removed"),
            )

        def by(key: Callable[[EntryRow], str | None]) -> list[ForecastRow]:
            groups: dict[str, list[EntryRow]] = defaultdict(list)
            for entry in rows:
                groups[key(entry) or UNKNOWN].append(entry)
            return [total(k, g) for k, g in sorted(groups.items())]

        return ForecastOut(
            currency=self.settings.currency,
            basis=ForecastBasis(
                share=basis.share,
                average_deal_size=from_cents(basis.average_cents),
                learned=basis.learned,
                won_deals=basis.won_deals,
                min_won_deals=basis.min_won_deals,
                per_lead=from_cents(basis.per_lead_cents),
            ),
            total=total("all", rows),
            by_period=by(lambda e: e.period),
            by_source=by(lambda e: e.source),
            by_source_class=by(lambda e: e.source_class),
            by_rep=by(lambda e: e.rep_id),
        )

    # --- roles -----------------------------------------------------------------------------

    async def grant_sales_executive(self, tx: Tx, key_id: str, granted_by: str) -> RoleRow:
        scope = await repository.api_key_scope(tx, key_id)
        if scope is None:
            raise NotFound(f"There is no active API key with id {key_id!r}.")
        if scope not in ROLE_SCOPES:
            raise Invalid(
                f"Key {key_id} has scope {scope}; a sales executive needs a manager key.",
                "key_id",
            )
        await repository.grant_role(tx, key_id, SALES_EXECUTIVE, granted_by)
        role = next(
            r for r in await repository.list_roles(tx, SALES_EXECUTIVE) if r.key_id == key_id
        )
        return role

    async def revoke_sales_executive(self, tx: Tx, key_id: str, revoked_by: str) -> None:
        if not await repository.revoke_role(tx, key_id, SALES_EXECUTIVE, revoked_by):
            raise NotFound(f"Key {key_id!r} does not hold the sales-executive role.")

    # --- erasure ---------------------------------------------------------------------------

    async def erase(self, tx: Tx, lead_id: str, requested_by: str) -> ErasureOut:
        """Redact the person's data from every archived event about the lead, from audit
        comments and from audit's outbox, and forget the email and company the lead could be
        found by; other read models hold none, so every count stays. Then
        say `person.erasure_requested` so every other service erases its own store and
        confirms; asking again re-sends it under the same erasure id."""
        stored = await repository.envelopes_of(tx, lead_id)
        values: set[str] = set()
        for _, envelope in stored:
            values |= personal_values(envelope.get("data"))
        values |= await erasure.outbox_values(tx, lead_id)
        redacted = 0
        for position, envelope in stored:
            clean = redact_envelope(envelope, values)
            if clean != envelope:
                await repository.replace_envelope(tx, position, clean)
                redacted += 1
        await repository.scrub_requests(tx, lead_id, lambda text: scrub_text(text, values))
        await repository.erase_satisfaction_audit_text(tx, lead_id)
        await repository.forget_contact(tx, lead_id)
        await repository.mark_erased(tx, lead_id, tx.now())
        await erasure.redact_outbox(tx, lead_id, values)
        earlier = await repository.get_erasure(tx, lead_id)
        erasure_id = earlier.id if earlier is not None and earlier.id else str(uuid.uuid4())
        await repository.put_erasure(tx, lead_id, requested_by, redacted, erasure_id)
        await repository.confirm_erasure(tx, lead_id, "audit", erasure_id, redacted)
        await emit(
            tx,
            ErasureRequested(lead_id=lead_id, erasure_id=erasure_id, requested_at=tx.now()),
        )
        row = await repository.get_erasure(tx, lead_id)
        assert row is not None
        return await self._progress(tx, row)

    async def erasure_progress(self, conn: Conn, erasure_id: str) -> ErasureOut | None:
        row = await repository.find_erasure(conn, erasure_id)
        return await self._progress(conn, row) if row is not None else None

    @staticmethod
    async def _progress(conn: Conn, row: ErasureRow) -> ErasureOut:
        confirmed = [
            c
            for c in await repository.erasure_confirmations_of(conn, row.lead_id)
            if row.id is None or c.erasure_id == row.id
        ]
        confirmed.sort(key=lambda c: (c.service != "audit", c.confirmed_at, c.service))
        done = {c.service for c in confirmed}
        return ErasureOut(
            **row.__dict__,
            confirmations=[
                ErasureConfirmation(
                    service=c.service, records=c.records, confirmed_at=c.confirmed_at
                )
                for c in confirmed
            ],
            pending=[s for s in SERVICES if s not in done],
            complete=done >= set(SERVICES),
        )

    async def _erasure_confirmed(self, tx: Tx, data: ErasureCompleted) -> None:
        await repository.confirm_erasure(
            tx, data.lead_id, data.SERVICE, data.erasure_id, data.records
        )

    # --- reports ---------------------------------------------------------------------------

    async def report(
        self,
        conn: ReadConn,
        metric: str,
        *,
        by: str,
        first: str | None,
        last: str | None,
        interval: Interval,
        now: datetime,
    ) -> Report:
        start, end = month_bounds(first, last)
        leads = await repository.lead_facts(conn, start, end)
        names = await repository.rep_names(conn)
        dimension = cast(LeadDimension, "rep_id" if by == "rep" else by)
        if metric == "funnel":
            return marketing.funnel(leads, cast(Literal["source", "source_class"], dimension))
        if metric == "costs":
            return marketing.costs(
                leads,
                await repository.deal_facts(conn, start, end),
                repository.spend_facts(await repository.list_spend(conn, first, last)),
                by=cast(Literal["source", "source_class"], dimension),
                source_classes=await repository.source_classes(conn),
                currency=self.settings.currency,
            )
        if metric == "source-mix":
            return marketing.source_mix(leads, interval, self.settings.dominance_threshold)
        if metric == "lead-to-close":
            return sales.lead_to_close(leads, dimension, names)
        if metric == "audits":
            audits = await repository.audit_facts(conn, start, end)
            return sales.audit_findings(audits, dimension, names)
        assignments = await repository.assignment_facts(conn, start, end)
        if metric == "follow-up":
            return sales.follow_up(leads, assignments, dimension, now, names)
        if metric == "time-to-first-touch":
            return sales.time_to_first_touch(leads, assignments, dimension, names)
        if metric == "sla":
            return sales.sla_compliance(assignments, now, names)
        raise NotFound(f"There is no metric {metric!r}.")

    @staticmethod
    def stage_name(rank: int) -> Literal["raw", "basic_qualified", "sales_qualified"]:
        return cast(Literal["raw", "basic_qualified", "sales_qualified"], STAGE_NAMES[rank])
