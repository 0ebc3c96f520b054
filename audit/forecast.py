"""The forecast: every sales-qualified short-term lead at a share (10%) of the average deal
size, and the removal workflow (only a sales executive takes a lead off)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from audit.money import from_cents, to_cents
from audit.projection import STAGE_RANK
from audit.records import EntryRow, RequestRow
from audit.reports.facts import (
    UNKNOWN,
    known_source_class,
)
from audit.repository.deals import won_amount, won_deals
from audit.repository.forecast import (
    current_entry,
    decide_request,
    entries,
    get_entry,
    get_request,
    insert_request,
    list_requests,
    pending_request_for,
    remove_entry,
)
from audit.repository.leads import get_lead
from audit.repository.roles import has_role
from audit.roles import SALES_EXECUTIVE
from audit.settings import AuditSettings
from contracts.envelope import Envelope
from contracts.events import (
    EventData,
    ForecastChanged,
    ForecastRemovalDecided,
    ForecastRemovalRequested,
    LeadQualified,
)
from contracts.ids import new_id
from services.db import Conn, ReadConn, Tx
from services.errors import Conflict, NotAllowed, NotFound
from services.outbox import emit

if TYPE_CHECKING:
    from audit.archive import Run


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


@dataclass(frozen=True)
class Totals:
    """A group of forecast entries: a period, source, source class or rep (or all)."""

    key: str
    open_leads: int
    open_amount: Decimal
    won_leads: int
    won_amount: Decimal
    pending_removal: int
    removed_leads: int


@dataclass(frozen=True)
class Summary:
    """The forecast's totals by expected close month, source, source class and rep."""

    currency: str
    basis: Basis
    total: Totals
    by_period: list[Totals]
    by_source: list[Totals]
    by_source_class: list[Totals]
    by_rep: list[Totals]


class Forecast:
    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings

    async def basis(self, conn: Conn) -> Basis:
        """10% (configurable) of the average deal size: from closed-won deals once there are
        enough of them, the configured default until then."""
        s = self.settings
        count, total = await won_deals(conn, s.currency)
        learned = count >= s.min_won_deals
        average = round(total / count) if learned else to_cents(s.default_deal_size)
        return Basis(s.forecast_share, average, learned, count, s.min_won_deals)

    @staticmethod
    def enters(data: EventData) -> bool:
        """A sales-qualified short-term lead enters the forecast."""
        return (
            isinstance(data, LeadQualified)
            and STAGE_RANK[data.decision.stage] == 2
            and data.decision.term == "short"
        )

    async def enter(self, run: Run, envelope: Envelope, lead_id: str) -> None:
        """Put the lead on the forecast, unless it is a test lead or on it already: decided
        on the lead's row as of the event, written with the run's entries."""
        lead = run.state(lead_id)
        if lead.is_test or lead_id in run.on_forecast:
            return
        if run.basis is None:
            run.basis = await self.basis(run.tx)
        basis = run.basis
        days = lead.timeframe_days
        close = envelope.time + timedelta(
            days=days if days is not None else self.settings.default_close_days
        )
        # Won before its qualification arrived (topics are not ordered with each other):
        # on the forecast at the deal's amount, as `mark_entry_won` would have put it.
        won = None
        if lead.won_at is not None:  # its deal is stored: `Archive._closed` writes it at once
            won = await won_amount(run.tx, lead_id, self.settings.currency)
        entry = EntryRow(
            id=new_id(),
            lead_id=lead_id,
            status="won" if lead.won_at is not None else "open",
            amount_cents=won if won is not None else basis.per_lead_cents,
            currency=self.settings.currency,
            period=close.strftime("%Y-%m"),
            expected_close_at=close,
            entered_at=envelope.time,
            source=lead.source,
            source_class=lead.source_class,
            rep_id=lead.rep_id,
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
                source_class=known_source_class(entry.source_class),
            ),
            traceparent=envelope.traceparent,
        )

    async def request_removal(
        self,
        tx: Tx,
        lead_id: str,
        reason: str,
        requested_by: str,
        traceparent: str | None,
        *,
        rep_only: bool = False,
        rep_id: str | None = None,
    ) -> RequestRow:
        """Ask for the lead to leave the forecast; only a sales executive decides. A rep
        (`rep_only`) asks for their own leads (`rep_id`) only."""
        if rep_only:
            lead = await get_lead(tx, lead_id)
            if lead is None or lead.rep_id != rep_id:
                raise NotFound(f"Lead {lead_id!r} is not on your forecast.")
        entry = await current_entry(tx, lead_id)
        if entry is None:
            raise NotFound(f"Lead {lead_id!r} is not on the forecast.")
        if entry.status != "open":
            raise Conflict(f"Lead {lead_id!r} was won; a won lead stays on the forecast.")
        pending = await pending_request_for(tx, entry.id)
        if pending is not None:
            raise Conflict(
                f"Lead {lead_id!r} already has a pending removal request, {pending.id}; "
                "a sales executive approves or denies it."
            )
        request = RequestRow(
            id=new_id(),
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
        await insert_request(tx, request)
        await emit(
            tx,
            ForecastRemovalRequested(
                lead_id=lead_id, request_id=request.id, requested_by=requested_by, reason=reason
            ),
            traceparent=traceparent,
        )
        return request

    async def request_for_system(
        self, tx: Tx, envelope: Envelope, lead_id: str, reason: str
    ) -> None:
        """A lost or returned lead stays on the forecast until a sales executive agrees: file
        the request for them."""
        entry = await current_entry(tx, lead_id)
        if entry is None or entry.status != "open":
            return
        if await pending_request_for(tx, entry.id) is not None:
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
        if not await has_role(tx, decided_by, SALES_EXECUTIVE):
            raise NotAllowed(
                "Only a sales executive approves or denies a forecast removal; an admin grants "
                "the role with POST /audit/v1/roles/sales-executive."
            )
        request = await get_request(tx, request_id)
        if request is None:
            raise NotFound(f"There is no forecast removal request with id {request_id!r}.")
        decision: Literal["approved", "denied"] = "approved" if approve else "denied"
        if not await decide_request(
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
            entry = await get_entry(tx, request.entry_id)
            if entry is not None and entry.status != "removed":
                await remove_entry(tx, entry.id, request_id)
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
                        source_class=known_source_class(entry.source_class),
                        request_id=request_id,
                        approved_by=decided_by,
                    ),
                    traceparent=traceparent,
                )
        done = await get_request(tx, request_id)
        assert done is not None
        return done

    async def totals(self, conn: ReadConn, first: str | None, last: str | None) -> Summary:
        """The forecast's totals by expected close month, source, source class and rep."""
        rows = await entries(conn, first=first, last=last)
        pending = {r.entry_id for r in await list_requests(conn, status="pending", limit=10**6)}
        basis = await self.basis(conn)

        def total(key: str, group: Sequence[EntryRow]) -> Totals:
            def amount(status: str) -> Decimal:
                return from_cents(sum(e.amount_cents for e in group if e.status == status))

            return Totals(
                key=key,
                open_leads=sum(1 for e in group if e.status == "open"),
                open_amount=amount("open"),
                won_leads=sum(1 for e in group if e.status == "won"),
                won_amount=amount("won"),
                pending_removal=sum(1 for e in group if e.status == "open" and e.id in pending),
                removed_leads=sum(1 for e in group if e.status == "removed"),
            )

        def by(key: Callable[[EntryRow], str | None]) -> list[Totals]:
            groups: dict[str, list[EntryRow]] = defaultdict(list)
            for entry in rows:
                groups[key(entry) or UNKNOWN].append(entry)
            return [total(k, g) for k, g in sorted(groups.items())]

        return Summary(
            currency=self.settings.currency,
            basis=basis,
            total=total("all", rows),
            by_period=by(lambda e: e.period),
            by_source=by(lambda e: e.source),
            by_source_class=by(lambda e: e.source_class),
            by_rep=by(lambda e: e.rep_id),
        )

    @staticmethod
    async def list_entries(conn: ReadConn, *, status: str | None, limit: int) -> list[EntryRow]:
        return await entries(conn, status=status, limit=limit)

    @staticmethod
    async def list_removal_requests(
        conn: ReadConn, *, status: str | None, lead_id: str | None, limit: int
    ) -> list[RequestRow]:
        return await list_requests(conn, status=status, lead_id=lead_id, limit=limit)
