"""Erasure helpers every service shares: take a person's data out of JSON and text while
keeping everything that is counted (ids, sources, stages, times, amounts), redact the
service's own outbox rows and timers about a lead, and skip late events about an erased lead.

Two passes over a JSON value: every field that holds personal data by name (the
`LeadProfile` contact fields, free text like `need` and `answers`, a provider's lead id) is
blanked (None, {} or []), which keeps a payload valid against its schema; then every other
string has the person's values (and the local part and domain of their email) replaced by
`[erased]`, because services echo them in reasons ("has a company (Acme GmbH)").
Identifier and category fields (`*_id`, `source`, `stage`, ...) are never rewritten.

The outbox is a store too: on the embedded runtime it *is* the event log, and in the cluster
it keeps what was published. Each service redacts its own rows keyed by the lead (events and
dead letters). What Kafka already holds cannot be rewritten: it ages out with the topics'
retention (see docs/architecture.md, "Personal data and erasure").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, select, update

from contracts.events import ErasureCompleted, ErasureRequested, EventData
from services import driversql
from services.consumer import BatchHandler, BatchHandlerMap, Handler, HandlerMap, Incoming
from services.db import Tx
from services.outbox import emit
from services.tables import outbox, timers, tombstones
from services.timers import cancel as cancel_timer

log = logging.getLogger(__name__)

ERASED = "[erased]"

PII_FIELDS = frozenset(
    {
        "email",
        "phone",
        "phone_raw",
        "first_name",
        "last_name",
        "full_name",
        "company",
        "company_domain",
        "job_title",
        "need",
        "answers",
        "utm",
        "engagements",
        "external_id",
        "comment",
        "contacted_by",
    }
)
"""Fields whose whole value is personal data, wherever they appear in an event."""

STRUCTURAL_FIELDS = frozenset(
    {
        "source",
        "source_class",
        "provider",
        "channel",
        "stage",
        "term",
        "lifecycle",
        "action",
        "currency",
        "sla",
        "track",
        "pool",
        "rule",
        "strategy",
        "queue",
    }
)
"""Category fields that metrics group by; never rewritten (nor is any `*_id`)."""

MIN_VALUE_LENGTH = 3


def _is_structural(key: str) -> bool:
    return key.endswith("_id") or key in STRUCTURAL_FIELDS


def personal_values(data: Any) -> set[str]:
    """The strings in `data` that are the person's: values of PII fields, anywhere."""
    found: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= MIN_VALUE_LENGTH:
                found.add(value)
            if "@" in value:
                local, _, domain = value.partition("@")
                found.update(v for v in (local, domain) if len(v) >= MIN_VALUE_LENGTH)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, v in value.items():
                if key in PII_FIELDS:
                    collect(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(data)
    return found


def _pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted({v for v in values if len(v) >= MIN_VALUE_LENGTH}, key=len, reverse=True)
    if not ordered:
        return None
    return re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE)


def scrub_text(text: str, values: Iterable[str]) -> str:
    """`text` with every occurrence of the person's values replaced by [erased]."""
    pattern = _pattern(values)
    return pattern.sub(ERASED, text) if pattern else text


def _blank(value: Any) -> Any:
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    return None


def redact(data: Any, values: Iterable[str]) -> Any:
    """A copy of `data` without the person's data (see the module docstring)."""
    pattern = _pattern(values)

    def walk(value: Any, structural: bool) -> Any:
        if isinstance(value, dict):
            return {
                key: _blank(v) if key in PII_FIELDS else walk(v, _is_structural(key))
                for key, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v, structural) for v in value]
        if isinstance(value, str) and pattern is not None and not structural:
            return pattern.sub(ERASED, value)
        return value

    return walk(data, False)


def redact_envelope(envelope: dict[str, Any], values: Iterable[str]) -> dict[str, Any]:
    """An archived CloudEvent with its `data` redacted; the envelope's own attributes (id,
    type, subject = lead id, time, source) stay, so the timeline keeps its shape and order."""
    return {**envelope, "data": redact(envelope.get("data", {}), values)}


# --- the chassis's stores -----------------------------------------------------------------


def envelope_values(payload: str) -> set[str]:
    """The person's values in one stored record (an envelope as JSON, or anything else)."""
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return set()
    return personal_values(parsed.get("data") if isinstance(parsed, dict) else parsed)


def redact_record(payload: str, values: Iterable[str]) -> str:
    """A stored record without the person's data: an envelope keeps its attributes and has
    its `data` redacted; any other JSON is redacted whole; text is scrubbed."""
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return scrub_text(payload, values)
    if isinstance(parsed, dict) and "specversion" in parsed:
        return orjson.dumps(redact_envelope(parsed, values)).decode()
    return orjson.dumps(redact(parsed, values)).decode()


async def outbox_values(tx: Tx, lead_id: str) -> set[str]:
    """The person's values in the events this service said about the lead."""
    await tx.flush()
    rows = await tx.conn.execute(
        select(outbox.c.payload).where(outbox.c.service == tx.service, outbox.c.key == lead_id)
    )
    found: set[str] = set()
    for (payload,) in rows:
        found |= envelope_values(payload)
    return found


async def redact_outbox(tx: Tx, lead_id: str, values: Iterable[str]) -> int:
    """Redact this service's outbox rows keyed by the lead (its events and dead letters,
    payloads and headers); returns how many changed."""
    wanted = set(values)
    await tx.flush()
    rows = (
        await tx.conn.execute(
            select(outbox.c.id, outbox.c.payload, outbox.c.headers).where(
                outbox.c.service == tx.service, outbox.c.key == lead_id
            )
        )
    ).all()
    changed = 0
    for row_id, payload, headers in rows:
        clean = redact_record(payload, wanted)
        clean_headers = scrub_text(headers, wanted) if headers else headers
        if clean != payload or clean_headers != headers:
            await tx.conn.execute(
                update(outbox)
                .where(outbox.c.id == row_id)
                .values(payload=clean, headers=clean_headers)
            )
            changed += 1
    if changed:
        tx.after_commit(tx.unit.database.log_rewritten)
    return changed


async def redact_timers(tx: Tx, keys: Iterable[str], values: Iterable[str]) -> int:
    """Scrub this service's timers keyed by these keys (payload and last error)."""
    wanted = set(values)
    rows = (
        await tx.conn.execute(
            select(timers.c.id, timers.c.payload, timers.c.last_error).where(
                timers.c.service == tx.service, timers.c.key.in_(list(keys))
            )
        )
    ).all()
    changed = 0
    for row_id, payload, last_error in rows:
        clean = redact_record(payload, wanted)
        clean_error = scrub_text(last_error, wanted) if last_error else last_error
        if clean != payload or clean_error != last_error:
            await tx.conn.execute(
                update(timers)
                .where(timers.c.id == row_id)
                .values(payload=clean, last_error=clean_error)
            )
            changed += 1
    return changed


async def redact_rows(
    tx: Tx,
    table: Table,
    where: ColumnElement[bool],
    values: Iterable[str],
    *,
    json_columns: Iterable[str] = (),
    text_columns: Iterable[str] = (),
    blank_columns: Iterable[str] = (),
) -> int:
    """Take the person's data out of the rows of a service's table that `where` selects:
    JSON columns are redacted (PII fields blanked, echoes scrubbed), text columns scrubbed,
    `blank_columns` set to NULL. Used by the services' repositories; returns rows changed."""
    wanted = set(values)
    keys = list(table.primary_key.columns)
    json_names, text_names, blank = list(json_columns), list(text_columns), list(blank_columns)
    columns = [*keys, *(table.c[n] for n in (*json_names, *text_names, *blank))]
    rows = (await tx.conn.execute(select(*columns).where(where))).all()
    changed = 0
    for row in rows:
        current = row._mapping
        new: dict[str, Any] = {}
        for name in json_names:
            if current[name] is not None:
                new[name] = redact(current[name], wanted)
        for name in text_names:
            if current[name] is not None:
                new[name] = scrub_text(current[name], wanted)
        for name in blank:
            new[name] = None
        if any(new[n] != current[n] for n in new):
            match = and_(*(k == current[k.name] for k in keys))
            await tx.conn.execute(update(table).where(match).values(**new))
            changed += 1
    return changed


# --- the erase flow ------------------------------------------------------------------------

Profile = Callable[[Tx, str], Awaitable[dict[str, Any] | None]]
OwnRows = Callable[[Tx, str, set[str]], Awaitable[int]]
SamePerson = Callable[[Tx, str], Awaitable[Collection[str]]]


async def erase_person(
    tx: Tx,
    lead_id: str,
    erasure_id: str,
    confirmation: type[ErasureCompleted],
    *,
    profile: Profile,
    own_rows: OwnRows,
    same_person: SamePerson | None = None,
    deadlines: Collection[str] = (),
    traceparent: str | None = None,
) -> int:
    """A service's answer to `person.erasure_requested`, in the caller's transaction. The
    service supplies what is its own:

    - `profile`: a lead's stored profile; its personal fields, and those of the events the
      service said about the lead (its outbox), are the person's values;
    - `own_rows`: takes the person out of the service's tables, given the lead and those
      values (it may add what it finds there, as ingest does from its deliveries), and
      returns how many rows it changed;
    - `same_person`: the other leads that are the same person (nurture: the same address),
      erased with it;
    - `deadlines`: the kinds of the service's timers about a lead to cancel.

    Then the service's timers and outbox rows about the leads are redacted, each lead gets
    a tombstone (later events about it are ignored, `skip_erased`) and `confirmation`
    (`<service>.erasure_completed`) says how many rows changed, which is returned."""
    leads = sorted({lead_id, *(await same_person(tx, lead_id) if same_person else ())})
    values: set[str] = set()
    for each in leads:
        values |= personal_values(await profile(tx, each) or {})
        values |= await outbox_values(tx, each)
    changed = await own_rows(tx, lead_id, values)
    for each in leads:
        for kind in deadlines:
            await cancel_timer(tx, kind, each)
    changed += await redact_timers(tx, leads, values)
    for each in leads:
        changed += await redact_outbox(tx, each, values)
        await put_tombstone(tx, each, erasure_id)
    await emit(
        tx,
        confirmation(lead_id=lead_id, erasure_id=erasure_id, records=changed),
        traceparent=traceparent,
    )
    return changed


# --- tombstones ---------------------------------------------------------------------------


@cache
def _among(table: Table, of_service: bool) -> Select[Any]:
    # Built once per table: every consumer batch asks, and building a statement costs more
    # CPU than the database takes to answer it.
    query = select(table.c.lead_id).where(
        table.c.lead_id.in_(bindparam("lead_ids", expanding=True))
    )
    return query.where(table.c.service == bindparam("service")) if of_service else query


async def leads_among(
    tx: Tx, table: Table, lead_ids: Collection[str], service: str | None = None
) -> set[str]:
    """Which of `lead_ids` `table` names in its `lead_id` column, with `service` in that
    service's rows only (one query): the tombstones, or audit's record of its erasures."""
    if not lead_ids:
        return set()
    raw = driversql.raw_connection(tx)
    if raw is not None:
        return driversql.among(raw, tx, table, list(lead_ids), service)
    params: dict[str, Any] = {"lead_ids": list(lead_ids)}
    if service is not None:
        params["service"] = service
    return {row["lead_id"] for row in await tx.rows(_among(table, service is not None), params)}


async def tombstoned_among(tx: Tx, lead_ids: Collection[str]) -> set[str]:
    """Which of `lead_ids` this service (`tx.service`) erased (one query, or none when the
    transaction has read them already)."""
    known = tx.tombstones_read
    if known is not None and known[0].issuperset(lead_ids):
        return known[1].intersection(lead_ids)
    return await leads_among(tx, tombstones, lead_ids, tx.service)


async def tombstoned(tx: Tx, lead_id: str) -> bool:
    """Whether this service (`tx.service`) erased the lead."""
    return bool(await tombstoned_among(tx, [lead_id]))


async def put_tombstone(tx: Tx, lead_id: str, erasure_id: str) -> None:
    """Record that this service (`tx.service`) erased the lead (again: latest wins)."""
    values = {"erasure_id": erasure_id, "erased_at": tx.now()}
    if await tombstoned(tx, lead_id):
        await tx.conn.execute(
            update(tombstones)
            .where(tombstones.c.service == tx.service, tombstones.c.lead_id == lead_id)
            .values(**values)
        )
    else:
        await tx.conn.execute(
            tombstones.insert().values(service=tx.service, lead_id=lead_id, **values)
        )
    known = tx.tombstones_read
    if known is not None:
        known[0].add(lead_id)
        known[1].add(lead_id)


IsErased = Callable[[Tx, str], Awaitable[bool]]


def skip_erased(
    handlers: HandlerMap, is_erased: IsErased = tombstoned
) -> dict[type[EventData], Handler]:
    """Wrap a service's event handlers so a late event about an erased lead is recorded as
    handled and otherwise ignored: it cannot bring the person's data back. The erasure
    request itself passes through (asking again erases again)."""

    def guard(handler: Handler) -> Handler:
        async def guarded(tx: Tx, event: Incoming[Any]) -> None:
            lead_id = getattr(event.data, "lead_id", "")
            if lead_id and await is_erased(tx, lead_id):
                log.info("ignored %s about an erased lead", event.envelope.type)
                return
            await handler(tx, event)

        return guarded

    return {
        event_type: handler if event_type is ErasureRequested else guard(handler)
        for event_type, handler in handlers.items()
    }


ErasedAmong = Callable[[Tx, Collection[str]], Awaitable[set[str]]]


def skip_erased_batch(
    handlers: BatchHandlerMap, erased_among: ErasedAmong = tombstoned_among
) -> dict[type[EventData], BatchHandler]:
    """`skip_erased` for batch handlers: one read finds the run's erased leads, and their
    events are left out of the run."""

    def guard(handler: BatchHandler) -> BatchHandler:
        async def guarded(tx: Tx, events: Sequence[Incoming[Any]]) -> None:
            lead_ids = {e.data.lead_id for e in events if getattr(e.data, "lead_id", "")}
            erased = await erased_among(tx, lead_ids) if lead_ids else set()
            if erased:
                log.info("ignored %d events about erased leads", len(erased))
                events = [e for e in events if getattr(e.data, "lead_id", "") not in erased]
            if events:
                await handler(tx, events)

        return guarded

    # One guard per handler: types that share a handler keep sharing one function, which is
    # what lets the consumer runner hand them to it as one run.
    guards = {handler: guard(handler) for handler in set(handlers.values())}
    return {
        event_type: handler if event_type is ErasureRequested else guards[handler]
        for event_type, handler in handlers.items()
    }
