"""Runs a report: reads its facts from the read models (leads captured in the months asked
for) and computes it (`marketing`, `sales`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal, cast

from audit.money import to_cents
from audit.records import SpendRow
from audit.reports import marketing, sales
from audit.reports.facts import (
    Interval,
    LeadDimension,
    Report,
)
from audit.repository.assignments import rep_names
from audit.repository.reports import (
    assignment_facts,
    audit_facts,
    deal_facts,
    lead_facts,
    list_spend,
    put_spend,
    source_classes,
    spend_facts,
)
from audit.settings import AuditSettings
from services.db import ReadConn, Tx
from services.errors import NotFound


def month_bounds(first: str | None, last: str | None) -> tuple[datetime | None, datetime | None]:
    """[start of `first`, start of the month after `last`) for YYYY-MM months."""
    start = end = None
    if first is not None:
        start = datetime(int(first[:4]), int(first[5:7]), 1, tzinfo=UTC)
    if last is not None:
        year, month = int(last[:4]), int(last[5:7])
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


class Reports:
    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings

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
        leads = await lead_facts(conn, start, end)
        names = await rep_names(conn)
        dimension = cast(LeadDimension, "rep_id" if by == "rep" else by)
        if metric == "funnel":
            return marketing.funnel(leads, cast(Literal["source", "source_class"], dimension))
        if metric == "costs":
            return marketing.costs(
                leads,
                await deal_facts(conn, start, end),
                spend_facts(await list_spend(conn, first, last)),
                by=cast(Literal["source", "source_class"], dimension),
                source_classes=await source_classes(conn),
                currency=self.settings.currency,
            )
        if metric == "source-mix":
            return marketing.source_mix(leads, interval, self.settings.dominance_threshold)
        if metric == "lead-to-close":
            return sales.lead_to_close(leads, dimension, names)
        if metric == "audits":
            audits = await audit_facts(conn, start, end)
            return sales.audit_findings(audits, dimension, names)
        assignments = await assignment_facts(conn, start, end)
        if metric == "follow-up":
            return sales.follow_up(leads, assignments, dimension, now, names)
        if metric == "time-to-first-touch":
            return sales.time_to_first_touch(leads, assignments, dimension, names)
        if metric == "sla":
            return sales.sla_compliance(assignments, now, names)
        raise NotFound(f"There is no metric {metric!r}.")

    async def put_spend(
        self, tx: Tx, *, source: str, period: str, amount: Decimal, note: str | None, by: str
    ) -> tuple[SpendRow, bool]:
        """Enter what was spent on a source in a month (replacing what was entered), in the
        forecast's currency; the stored row, and True when it is new."""
        created = await put_spend(
            tx,
            source=source,
            period=period,
            amount_cents=to_cents(amount),
            currency=self.settings.currency,
            note=note,
            updated_by=by,
        )
        stored = await list_spend(tx, period, period)
        return next(r for r in stored if r.source == source), created

    @staticmethod
    async def spend(conn: ReadConn, first: str | None, last: str | None) -> list[SpendRow]:
        return await list_spend(conn, first, last)
