"""The query and path parameters audit's routes share, how each is checked (a bad one is a
422 problem naming it, services/problems.py), and a metric's answer as JSON or CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from audit.reports.facts import Report
from audit.schemas import check_period
from contracts.events import EVENT_TYPES
from services.problems import Problem, field_error

Metric = Literal[
    "funnel",
    "costs",
    "follow-up",
    "time-to-first-touch",
    "sla",
    "source-mix",
    "lead-to-close",
    "audits",
]
# Each metric's groupings; the first is the default.
GROUPINGS: dict[str, tuple[str, ...]] = {
    "funnel": ("source_class", "source"),
    "costs": ("source", "source_class"),
    "follow-up": ("source", "source_class", "rep"),
    "time-to-first-touch": ("source", "source_class", "rep"),
    "sla": ("rep",),
    "source-mix": ("source_class",),
    "lead-to-close": ("source", "source_class", "rep"),
    "audits": ("rep", "source", "source_class"),
}
SOURCE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
SEARCH_MIN, SEARCH_MAX = 2, 320  # characters; 320 is the longest email address


def archive_cursor(after: str) -> tuple[datetime, int]:
    at, _, position = after.partition("|")
    try:
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError(at)
        return moment, int(position)
    except ValueError:
        raise Problem(
            422,
            "after is not the `next` of a page.",
            errors=[field_error("after", "not a page cursor")],
        ) from None


def months(first: str | None, last: str | None) -> tuple[str | None, str | None]:
    errors = []
    for name, value in (("from", first), ("to", last)):
        try:
            check_period(value, name)
        except ValueError as exc:
            errors.append(field_error(name, str(exc)))
    if not errors and first and last and first > last:
        errors.append(field_error("from", "must not be after to"))
    if errors:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise Problem(422, f"The request has invalid fields. {summary}", errors=errors)
    return first, last


def search_text(q: str | None) -> str:
    """The search text, trimmed; a 422 naming `q` when it is missing, too short or too long
    (control characters never get here: the URL is refused before any route)."""
    text = (q or "").strip()
    if len(text) < SEARCH_MIN:
        problem = (
            "is required: an email, part of a company name, or a lead id"
            if not text
            else f"must be at least {SEARCH_MIN} characters"
        )
    elif len(text) > SEARCH_MAX:
        problem = f"must be at most {SEARCH_MAX} characters (it has {len(text)})"
    else:
        return text
    raise Problem(422, f"The search text q {problem}.", errors=[field_error("q", problem)])


EventTypes = Annotated[
    list[str],
    Query(alias="type", min_length=1, description="Event types, e.g. leadfarm.lead.qualified.v1"),
]
Since = Annotated[AwareDatetime, Query(description="Window start (inclusive)")]
Until = Annotated[AwareDatetime, Query(description="Window end (exclusive)")]
After = Annotated[str | None, Query(max_length=100, description="`next` of the last page")]
SearchText = Annotated[
    str | None,
    Query(
        description="Find leads by an email address (the whole of it, any case), "
        "part of a company name, or a lead id; found leads show their email and "
        "company (to trace one). An erased lead is found by its id only.",
        examples=["jo@acme.example", "Acme"],
    ),
]
Grouping = Annotated[
    str | None, Query(description="Grouping: source, source_class or rep (per metric)")
]
FirstMonth = Annotated[
    str | None, Query(alias="from", description="First month (YYYY-MM) of leads captured")
]
LastMonth = Annotated[
    str | None, Query(alias="to", description="Last month (YYYY-MM) of leads captured")
]


def path(pattern: str, description: str) -> object:
    from fastapi import Path

    return Path(pattern=pattern, description=description)


def archive_window(
    types: list[str], since: datetime, until: datetime, after: str | None
) -> tuple[datetime, int] | None:
    """The export's window checked (known types, `until` after `since`), and its cursor."""
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise Problem(
            422,
            f"Unknown event types: {', '.join(unknown)}.",
            errors=[field_error("type", "unknown event type")],
        )
    if until <= since:
        raise Problem(
            422, "until must be after since.", errors=[field_error("until", "not after since")]
        )
    return archive_cursor(after) if after is not None else None


def grouping(metric: str, by: str | None) -> str:
    """The metric's grouping: `by`, one the metric has, or its default."""
    allowed = GROUPINGS[metric]
    chosen = by or allowed[0]
    if chosen not in allowed:
        raise Problem(
            422,
            f"{metric} is grouped by {' or '.join(allowed)}, not {chosen!r}.",
            errors=[field_error("by", f"must be one of {', '.join(allowed)}")],
        )
    return chosen


def spend_currency(given: str | None, currency: str) -> None:
    """Spend is entered in the forecast's currency (audit converts no money)."""
    if (given or currency).upper() != currency:
        raise Problem(
            422,
            f"Spend is kept in {currency} (LEADFARM_AUDIT_CURRENCY); convert the amount.",
            errors=[field_error("currency", f"must be {currency}")],
        )


def report_response(
    report: Report, metric: str, first: str | None, last: str | None, *, csv: bool
) -> Response:
    """A metric as CSV (its rows, then the total) or as JSON with the months asked for."""
    if csv:
        name = f"{metric}-by-{report.by}.csv" if report.by else f"{metric}.csv"
        return Response(
            report.as_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )
    body = report.as_json()
    body["from"], body["to"] = first, last
    return JSONResponse(body)
