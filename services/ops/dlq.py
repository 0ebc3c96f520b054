"""Dead letters: list, show and replay.

A dead letter is written by the consumer runner **through the consuming service's outbox**
(topic `<topic>.dlq`, headers `x-leadfarm-*`), so the service's own outbox table holds every
dead letter it produced, on both runtimes: on the embedded runtime that table is the log
itself, in the cluster the relay has copied the rows to the Kafka `<topic>.dlq` topics. The
table is therefore the one place to read them from, with the same query on both runtimes,
and replay can be recorded in it atomically.

Replay writes the original record again, through the same outbox, to the topic it came
from, with the outbox event id `replay-<dead letter id>`. That id is unique, so a dead
letter is replayed at most once: a second replay (even a concurrent one) is refused. The
record names the consumer group that dead-lettered it (`x-leadfarm-replay-for`): the other
groups of the topic, which handled the event the first time, pass it over, and that group
handles it, because a dead-lettered event is never recorded in its inbox (the handler's
transaction, inbox row included, rolled back). A dead letter written before its consumer
was named in its headers is replayed to every group, whose inbox skips it if they handled
it (and has not forgotten it yet: docs/architecture.md, "Inbox").
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contracts.envelope import structured_mode_headers
from contracts.topics import DLQ_SUFFIX, ServiceName
from services.bus.base import Message
from services.consumer import decode_message
from services.decoding import PoisonMessage
from services.erasure import personal_values, redact_envelope
from services.logs import redact
from services.outbox import REPLAY_FOR_HEADER, REPLAY_PREFIX, write_record
from services.runtime import Runtime
from services.tables import inbox, outbox

LEADFARM_HEADER_PREFIX = "x-leadfarm-"  # the dead-letter and replay headers Leadfarm adds

Status = Literal["pending", "replayed", "handled"]


@dataclass(frozen=True)
class DeadLetter:
    id: int
    """The outbox row id in the service's log (what `dlq show` and `dlq replay` take)."""
    dlq_event_id: str
    service: ServiceName
    consumer: str
    dlq_topic: str
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    key: str | None
    payload: bytes
    headers: dict[str, str]
    error: str
    attempts: int
    dead_at: datetime
    event_type: str | None
    event_id: str | None
    replayed_at: datetime | None
    handled: bool

    @property
    def status(self) -> Status:
        if self.handled:
            return "handled"
        return "replayed" if self.replayed_at is not None else "pending"

    def original_headers(self) -> dict[str, str]:
        """The headers the record had before it was dead-lettered (its content-type...)."""
        return {k: v for k, v in self.headers.items() if not k.startswith(LEADFARM_HEADER_PREFIX)}

    def summary(self) -> dict[str, Any]:
        """What `dlq list` prints: no payload, and the error text passed through the log
        redactor (an error message can quote a field's value)."""
        return {
            "id": self.id,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "original": f"{self.original_topic}[{self.original_partition}]@{self.original_offset}",
            "attempts": self.attempts,
            "error": redact(self.error),
            "dead_at": self.dead_at.isoformat(),
            "status": self.status,
        }

    def envelope(self, *, unredacted: bool = False) -> dict[str, Any]:
        """The whole dead letter for `dlq show`; the person's data masked unless asked."""
        try:
            value: Any = orjson.loads(self.payload)
        except orjson.JSONDecodeError:
            value = self.payload.decode(errors="replace")
        if not unredacted:
            if isinstance(value, dict):
                value = redact_envelope(value, personal_values(value.get("data")))
            value = orjson.loads(redact(orjson.dumps(value).decode()))
        return {
            **self.summary(),
            "error": self.error if unredacted else redact(self.error),
            "dlq_event_id": self.dlq_event_id,
            "consumer": self.consumer,
            "dlq_topic": self.dlq_topic,
            "key": self.key,
            "headers": self.headers,
            "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
            "redacted": not unredacted,
            "record": value,
        }


async def list_dead_letters(runtime: Runtime, service: ServiceName) -> list[DeadLetter]:
    """The service's dead letters, oldest first, each with its replay and inbox status."""
    unit = runtime.units[service]
    group = _group(runtime, service)
    async with unit.read() as conn:
        rows = (
            await conn.execute(
                select(
                    outbox.c.id,
                    outbox.c.event_id,
                    outbox.c.topic,
                    outbox.c.key,
                    outbox.c.payload,
                    outbox.c.headers,
                    outbox.c.created_at,
                )
                .where(outbox.c.service == service, outbox.c.topic.like(f"%{DLQ_SUFFIX}"))
                .order_by(outbox.c.id)
            )
        ).all()
        replay_ids = [REPLAY_PREFIX + r.event_id for r in rows]
        replays = (
            {
                r.event_id[len(REPLAY_PREFIX) :]: r.created_at
                for r in (
                    await conn.execute(
                        select(outbox.c.event_id, outbox.c.created_at).where(
                            outbox.c.event_id.in_(replay_ids)
                        )
                    )
                ).all()
            }
            if replay_ids
            else {}
        )
        letters = [_letter(service, r, replays.get(r.event_id)) for r in rows]
        event_ids = [lt.event_id for lt in letters if lt.event_id]
        handled = (
            set(
                (
                    await conn.scalars(
                        select(inbox.c.event_id).where(
                            inbox.c.consumer == group, inbox.c.event_id.in_(event_ids)
                        )
                    )
                ).all()
            )
            if event_ids
            else set()
        )
    return [lt if lt.event_id not in handled else _with_handled(lt) for lt in letters]


async def get_dead_letter(runtime: Runtime, service: ServiceName, ref: str) -> DeadLetter | None:
    """One dead letter by its row id (`17`) or its dead-letter event id (`dlq-...`)."""
    for letter in await list_dead_letters(runtime, service):
        if ref in (str(letter.id), letter.dlq_event_id):
            return letter
    return None


ReplayResult = Literal["replayed", "already replayed", "already handled", "not an event"]


async def replay_dead_letter(runtime: Runtime, letter: DeadLetter) -> ReplayResult:
    """Put the dead letter's record back on its original topic, at most once."""
    if letter.handled:
        return "already handled"
    if letter.replayed_at is not None:
        return "already replayed"
    message = Message(
        letter.original_topic, letter.original_partition or 0, 0, letter.key, letter.payload
    )
    try:
        # Replaying what still is not an event would only dead-letter it again; an upcaster
        # or a new event type deployed since can make it one.
        decode_message(message)
    except PoisonMessage:
        return "not an event"
    unit = runtime.units[letter.service]
    try:
        async with unit.transaction() as tx:
            await write_record(
                tx,
                letter.original_topic,
                letter.key,
                letter.payload,
                event_id=REPLAY_PREFIX + letter.dlq_event_id,
                # It decoded as an event above, so it is a structured-mode CloudEvent even
                # if it was dead-lettered before records carried their content type.
                headers={
                    **structured_mode_headers(),
                    **letter.original_headers(),
                    "x-leadfarm-replay-of": letter.dlq_event_id,
                    **({REPLAY_FOR_HEADER: letter.consumer} if letter.consumer else {}),
                },
            )
    except IntegrityError:
        return "already replayed"
    return "replayed"


def _group(runtime: Runtime, service: ServiceName) -> str:
    return f"{runtime.settings.topic_namespace}.{service}"


def _letter(service: ServiceName, row: Any, replayed_at: datetime | None) -> DeadLetter:
    headers: dict[str, str] = orjson.loads(row.headers) if row.headers else {}
    payload = str(row.payload).encode()
    event_type = event_id = None
    with contextlib.suppress(orjson.JSONDecodeError, TypeError, AttributeError):
        parsed = orjson.loads(payload)
        if isinstance(parsed, dict):
            event_type = _str(parsed.get("type"))
            event_id = _str(parsed.get("id"))
    return DeadLetter(
        id=int(row.id),
        dlq_event_id=row.event_id,
        service=service,
        consumer=headers.get("x-leadfarm-consumer", ""),
        dlq_topic=row.topic,
        original_topic=headers.get("x-leadfarm-original-topic", row.topic[: -len(DLQ_SUFFIX)]),
        original_partition=_int(headers.get("x-leadfarm-original-partition")),
        original_offset=_int(headers.get("x-leadfarm-original-offset")),
        key=row.key,
        payload=payload,
        headers=headers,
        error=headers.get("x-leadfarm-error", ""),
        attempts=_int(headers.get("x-leadfarm-attempts")) or 0,
        dead_at=row.created_at,
        event_type=event_type,
        event_id=event_id,
        replayed_at=replayed_at,
        handled=False,
    )


def _with_handled(letter: DeadLetter) -> DeadLetter:
    return replace(letter, handled=True)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
