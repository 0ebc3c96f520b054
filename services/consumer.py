"""The consumer runner: reads a subscription, hands each event to its handler inside one
transaction with the inbox record, and commits offsets only after that.

- The events of one fetch are handled in one transaction, in order (one inbox query, one
  inbox insert and one commit for the lot: under load this is most of the speed). If any
  of them fails, that transaction is rolled back and the batch is handled again one event
  per transaction, so a bad event never takes good ones with it.
- A duplicate (event id already in the inbox) is skipped.
- A handler error is retried `max_attempts` times, then the message goes to `<topic>.dlq`
  with its error (written through the outbox, so the dead letter and the skip commit
  together) and the consumer goes on.
- A message that is not a valid event at all is dead-lettered at once.
- Infrastructure errors (database or broker unreachable) are not the message's fault: the
  runner rewinds to the message and tries again after a backoff, without limit, so a
  database restart does not turn good events into dead letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from contracts.envelope import Envelope
from contracts.events import EventData
from contracts.ids import new_id
from contracts.topics import dlq_for, topic_for
from services import metrics, tracing
from services.bus.base import CommitsWithTransaction, Message, ReportsLag, Subscription
from services.db import Tx, UnitOfWork
from services.decoding import PoisonMessage, decode_record
from services.inbox import claim, forget, is_new
from services.logs import event_id_var, lead_id_var, trace_id_of, trace_id_var
from services.outbox import REPLAY_FOR_HEADER, write_record
from services.pruning import prune_turn

log = logging.getLogger(__name__)

D = TypeVar("D", bound=EventData)


@dataclass(frozen=True)
class Incoming(Generic[D]):
    """An event being handled: its envelope and its typed data."""

    envelope: Envelope
    data: D
    context: str | None = None
    """With tracing on, the context of this event's `process` span (services/tracing.py)."""

    @property
    def traceparent(self) -> str:
        """What the events said while handling this one continue."""
        return self.context or self.envelope.traceparent


Handler = Callable[[Tx, Incoming[Any]], Awaitable[None]]
HandlerMap = Mapping[type[EventData], Handler]
BatchHandler = Callable[[Tx, Sequence[Incoming[Any]]], Awaitable[None]]
"""Takes a run of consecutive events (in log order, so in order per lead) and writes their
effects with set-based statements. Called with one event when a batch falls back."""
BatchHandlerMap = Mapping[type[EventData], BatchHandler]


def one_at_a_time(batch_handler: BatchHandler) -> Handler:
    """A batch handler called with one event (the fallback path, replays)."""

    async def handler(tx: Tx, event: Incoming[Any]) -> None:
        await batch_handler(tx, [event])

    return handler


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def is_transient(exc: BaseException) -> bool:
    """An infrastructure fault (not the message's): pause and retry, never dead-letter.
    A transaction PostgreSQL rolled back to break a deadlock or a serialization conflict
    (SQLSTATE class 40) is one: run again, it succeeds."""
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or str(getattr(exc.orig, "sqlstate", "") or "")[:2] == "40"
    ):
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


LAG_INTERVAL_S = 5.0
"""How often each consumer sets its `leadfarm_consumer_lag` gauge."""

UNSTORED_MAX_AGE_S = 1.0
"""How long the position of messages passed over may stay unstored (a consumer with
nothing else to do stores it at its next idle fetch after that)."""


FORGET_EVERY_S = 600.0
"""How often a consumer forgets what its inbox has kept long enough (services/inbox.py);
an unfinished turn (services/pruning.py) goes on after the next fetch, a second later."""


class ConsumerRunner:
    def __init__(
        self,
        unit: UnitOfWork,
        subscription: Subscription,
        handlers: HandlerMap,
        *,
        group: str,
        max_attempts: int,
        retry_backoff_s: float,
        batch_size: int,
        any_topic: bool = False,
        batch_handlers: BatchHandlerMap | None = None,
        linger_s: float = 0.0,
        inbox_retention: timedelta | None = None,
    ) -> None:
        self.unit = unit
        # An event type belongs to one topic (its service's). Unless `any_topic` (audit's
        # archive), an event found on another topic is ignored: a misplaced record must not
        # make a service act.
        self.any_topic = any_topic
        self.subscription = subscription
        self.handlers = handlers
        self.batch_handlers = batch_handlers or {}
        self.group = group
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.batch_size = batch_size
        self.linger_s = linger_s
        self.inbox_retention = inbox_retention
        """How long the inbox keeps what this consumer handled (None: for ever)."""
        self._forget_at = 0.0
        self._stopping = False
        self._in_tx: CommitsWithTransaction | None = (
            subscription if isinstance(subscription, CommitsWithTransaction) else None
        )
        """The subscription, when it stores positions in the service's transactions."""
        self.idle = asyncio.Event()
        self._lag_reported_at = -LAG_INTERVAL_S
        self._unstored: list[Message] = []
        """Passed over without a transaction (no event this consumer handles): their position
        is stored with the next transaction, or on its own after a while (see `_pass_over`)."""
        self._unstored_since = 0.0

    async def run(self) -> None:
        await self.subscription.start()
        backoff = self.retry_backoff_s
        while not self._stopping:
            try:
                messages = await self._fetch()
                await self._report_lag()
                self.idle.clear()
                handled: list[Message] = []
                try:
                    if len(messages) > 1 and await self.handle_together(messages):
                        handled = list(messages)
                    for message in messages[len(handled) :]:
                        if self._stopping:
                            break
                        await self.handle(message)
                        handled.append(message)
                finally:
                    # Whatever was not handled (stop, infrastructure error) comes again.
                    for first_unhandled in _first_per_partition(messages[len(handled) :]):
                        await self.subscription.rewind(first_unhandled)
                    if self._in_tx is None:
                        await self._commit_offsets(handled)
                if self._unstored and time.monotonic() - self._unstored_since > UNSTORED_MAX_AGE_S:
                    # Not at every idle moment: between two leads every consumer is idle,
                    # and a transaction per lead only to move the position is what passing
                    # over saves.
                    await self._store_passed_over()
                if self.inbox_retention is not None and time.monotonic() >= self._forget_at:
                    await self._forget_handled(self.inbox_retention)
                if not messages:
                    self.idle.set()
                backoff = self.retry_backoff_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - unhandled messages were rewound; retry
                log.warning("consumer %s paused by an error: %r", self.group, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        if self._unstored:
            with contextlib.suppress(Exception):  # read and passed over again after a restart
                await self._store_passed_over()

    async def _forget_handled(self, retention: timedelta) -> None:
        """Delete the inbox rows of what this consumer handled more than `retention` ago, a
        turn of chunks (services/pruning.py); the next turn is FORGET_EVERY_S later, or a
        second later when this one did not finish."""
        before = self.unit.clock.now() - retention

        async def chunk(limit: int) -> int:
            async with self.unit.transaction() as tx:
                return await forget(tx, self.group, before, limit)

        _, more = await prune_turn(chunk, lambda: self._stopping)
        self._forget_at = time.monotonic() + (1.0 if more else FORGET_EVERY_S)

    async def _fetch(self) -> list[Message]:
        """The next batch. A consumer off the path to the rep lingers: when a fetch finds
        fewer events than a batch holds, it waits `linger_s` for more and takes them in the
        same batch, so that under a steady trickle it handles tens of events per
        transaction instead of one."""
        messages = await self.subscription.fetch(self.batch_size, timeout_s=0.5)
        if messages and 0 < len(messages) < self.batch_size and self.linger_s > 0:
            await asyncio.sleep(self.linger_s)
            messages += await self.subscription.fetch(self.batch_size - len(messages), 0.0)
        return messages

    async def stop(self) -> None:
        """Stop after the message in hand; its offsets are committed by `run`."""
        self._stopping = True

    async def _report_lag(self) -> None:
        """Set `leadfarm_consumer_lag` every LAG_INTERVAL_S (never fails the loop)."""
        now = time.monotonic()
        if now - self._lag_reported_at < LAG_INTERVAL_S or not isinstance(
            self.subscription, ReportsLag
        ):
            return
        self._lag_reported_at = now
        try:
            lags = await self.subscription.lag()
        except Exception as exc:  # noqa: BLE001 - a metric must not stop consuming
            log.debug("consumer lag not measured: %r", exc)
            return
        for (topic, partition), lag in lags.items():
            metrics.CONSUMER_LAG.labels(self.group, topic, str(partition)).set(lag)

    async def _position_in(self, tx: Tx, handled: Sequence[Message]) -> None:
        """Store the group's position with the effects, where the bus allows it (with the
        position of what was passed over before, if it is not stored yet)."""
        if self._in_tx is not None:
            passed_over = self._unstored
            await self._in_tx.commit_in(tx, [*passed_over, *handled])
            if passed_over:
                tx.after_commit(lambda: self._stored(passed_over))

    def _pass_over(self, messages: Sequence[Message]) -> bool:
        """Skip messages this consumer handles none of, storing no position for them yet:
        every consumer passes over most of what its topics carry (the qualifier over each
        lead.assigned, nurture over the router's events...), and on the embedded log a
        transaction only to move the position cost as much as handling an event (on Kafka,
        an offset commit: a round trip to the broker). Their position is stored with the
        next transaction or offset commit, or on its own once it is UNSTORED_MAX_AGE_S old;
        after a crash before that they are read and passed over again, which changes
        nothing."""
        if not self._unstored:
            self._unstored_since = time.monotonic()
        self._unstored.extend(messages)
        return True

    def _stored(self, messages: list[Message]) -> None:
        stored = set(map(id, messages))
        self._unstored = [m for m in self._unstored if id(m) not in stored]

    async def _store_passed_over(self) -> None:
        if self._in_tx is None:
            unstored, self._unstored = self._unstored, []
            await self.subscription.commit(unstored)
            return
        async with self.unit.transaction() as tx:
            await self._position_in(tx, [])

    async def _commit_offsets(self, handled: Sequence[Message]) -> None:
        """Commit the offsets of `handled` to the broker, with those of what was passed over
        before them; nothing when all of `handled` was passed over (see `_pass_over`)."""
        passed_over = {id(m) for m in self._unstored}
        fresh = [m for m in handled if id(m) not in passed_over]
        if fresh:
            unstored, self._unstored = self._unstored, []
            await self.subscription.commit([*unstored, *fresh])

    def _handles(self, message: Message, data: EventData) -> bool:
        if not self.any_topic and message.topic != topic_for(
            type(data).SERVICE, self.unit.topic_namespace
        ):
            return False
        if message.headers.get(REPLAY_FOR_HEADER, self.group) != self.group:
            return False  # a dead letter of another group, replayed for that group only
        return type(data) in self.handlers or type(data) in self.batch_handlers

    def _handler_for(self, message: Message, data: EventData) -> Handler | None:
        if not self._handles(message, data):
            return None
        batch_handler = self.batch_handlers.get(type(data))
        if batch_handler is not None:
            return one_at_a_time(batch_handler)
        return self.handlers[type(data)]

    async def _apply(self, tx: Tx, events: list[Incoming[Any]]) -> None:
        """Hand `events` (in order) to their handlers: consecutive events of one batch
        handler go to it together; the others one by one. What a handler deferred is
        written before the next handler runs (it may read it)."""
        start = 0
        while start < len(events):
            if start:
                await tx.flush()
            batch_handler = self.batch_handlers.get(type(events[start].data))
            end = start + 1
            if batch_handler is None:
                event = events[start]
                lead_token = lead_id_var.set(event.envelope.subject)
                event_token = event_id_var.set(event.envelope.id)
                trace_token = trace_id_var.set(trace_id_of(event.envelope.traceparent))
                try:
                    await self.handlers[type(event.data)](tx, event)
                finally:
                    lead_id_var.reset(lead_token)
                    event_id_var.reset(event_token)
                    trace_id_var.reset(trace_token)
            else:
                while end < len(events) and (
                    self.batch_handlers.get(type(events[end].data)) == batch_handler
                ):
                    end += 1
                await batch_handler(tx, events[start:end])
            start = end

    async def handle_together(self, messages: list[Message]) -> bool:
        """Handle `messages` in one transaction. False (and nothing applied) if any of them
        is poison or its handler fails: the caller then handles them one at a time."""
        if not tracing.enabled:
            return await self._handle_together(messages, None)
        with self._consuming(messages) as spans:
            together = await self._handle_together(messages, spans)
            if not together:
                spans.rolled_back()
            return together

    def _consuming(self, messages: Sequence[Message]) -> tracing.Consuming:
        return tracing.Consuming(self.unit.service, self.group, messages, _traceparent_in)

    async def _handle_together(
        self, messages: list[Message], spans: tracing.Consuming | None
    ) -> bool:
        decoded: list[tuple[Envelope, EventData]] = []
        for message in messages:
            try:
                decoded.append(decode_message(message))
            except PoisonMessage:
                return False
        handled = [self._handles(m, data) for m, (_, data) in zip(messages, decoded, strict=True)]
        if not any(handled) and self._pass_over(messages):
            self._count_handled([(envelope.type, "ignored") for envelope, _ in decoded])
            return True
        started = time.perf_counter()
        outcomes: list[tuple[str, str]] = []
        try:
            async with self.unit.transaction() as tx:
                new = await claim(
                    tx,
                    self.group,
                    {e.id for (e, _), h in zip(decoded, handled, strict=True) if h},
                    {
                        lead_id
                        for (_, data), h in zip(decoded, handled, strict=True)
                        if h and (lead_id := getattr(data, "lead_id", None))
                    },
                )
                todo: list[Incoming[Any]] = []
                for message, (envelope, data), handles in zip(
                    messages, decoded, handled, strict=True
                ):
                    if envelope.id not in new or not handles:
                        outcomes.append((envelope.type, "duplicate" if handles else "ignored"))
                        continue
                    new.discard(envelope.id)  # the same event twice in one batch: once
                    todo.append(
                        Incoming(envelope, data, spans.traceparent(message) if spans else None)
                    )
                    outcomes.append((envelope.type, "ok"))
                await self._apply(tx, todo)
                await self._position_in(tx, messages)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.info("batch of %d rolled back (%r); handling one at a time", len(messages), exc)
            return False
        self._count_handled(outcomes, (time.perf_counter() - started) / len(messages))
        return True

    def _count_handled(self, outcomes: Sequence[tuple[str, str]], share: float = 0.0) -> None:
        """Count a batch's outcomes (event type, result) and time its handled events (each
        `share` of the batch's time): a metric's labels looked up once per batch, not per
        event (a lookup costs more than the increment)."""
        for (event_type, result), n in Counter(outcomes).items():
            metrics.EVENTS_HANDLED.labels(self.group, event_type, result).inc(n)
            if result == "ok":
                seconds = metrics.HANDLER_SECONDS.labels(self.group)
                for _ in range(n):
                    seconds.observe(share)

    async def handle(self, message: Message) -> None:
        if not tracing.enabled:
            await self._handle(message, None)
            return
        with self._consuming([message]) as spans:
            await self._handle(message, spans)

    async def _handle(self, message: Message, spans: tracing.Consuming | None) -> None:
        try:
            envelope, data = decode_message(message)
        except PoisonMessage as exc:
            await self._dead_letter(message, exc, attempts=0)
            return
        handler = self._handler_for(message, data)
        if handler is None:
            metrics.EVENTS_HANDLED.labels(self.group, envelope.type, "ignored").inc()
            self._pass_over([message])
            return
        lead_token = lead_id_var.set(envelope.subject)
        event_token = event_id_var.set(envelope.id)
        trace_token = trace_id_var.set(trace_id_of(envelope.traceparent))
        incoming = Incoming(envelope, data, spans.traceparent(message) if spans else None)
        try:
            await self._handle_with_retries(message, envelope, incoming, handler)
        finally:
            lead_id_var.reset(lead_token)
            event_id_var.reset(event_token)
            trace_id_var.reset(trace_token)

    async def _handle_with_retries(
        self, message: Message, envelope: Envelope, incoming: Incoming[Any], handler: Handler
    ) -> None:
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                async with self.unit.transaction() as tx:
                    await self._position_in(tx, [message])
                    lead_id = getattr(incoming.data, "lead_id", None)
                    if not await is_new(tx, self.group, envelope.id, lead_id):
                        metrics.EVENTS_HANDLED.labels(self.group, envelope.type, "duplicate").inc()
                        return
                    await handler(tx, incoming)
                metrics.HANDLER_SECONDS.labels(self.group).observe(time.perf_counter() - started)
                metrics.EVENTS_HANDLED.labels(self.group, envelope.type, "ok").inc()
                return
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.warning(
                    "handler for %s failed (attempt %d of %d): %r",
                    envelope.type,
                    attempt,
                    self.max_attempts,
                    exc,
                )
                if attempt == self.max_attempts:
                    await self._dead_letter(message, exc, attempts=attempt)
                    return
                await asyncio.sleep(self.retry_backoff_s * attempt)

    async def _dead_letter(self, message: Message, error: BaseException, attempts: int) -> None:
        topic = dlq_for(message.topic)
        async with self.unit.transaction() as tx:
            await self._position_in(tx, [message])
            await write_record(
                tx,
                topic,
                message.key,
                message.value,
                event_id=f"dlq-{new_id()}",
                headers={
                    **message.headers,  # the record's own headers (its content-type...) are kept
                    "x-leadfarm-consumer": self.group,
                    "x-leadfarm-error": f"{type(error).__name__}: {error}"[:2000],
                    "x-leadfarm-attempts": str(attempts),
                    "x-leadfarm-original-topic": message.topic,
                    "x-leadfarm-original-partition": str(message.partition),
                    "x-leadfarm-original-offset": str(message.offset),
                },
            )
        metrics.DEAD_LETTERS.labels(self.group, message.topic).inc()
        log.error("message dead-lettered to %s after %d attempts: %s", topic, attempts, error)


def _first_per_partition(messages: list[Message]) -> list[Message]:
    first: dict[tuple[str, int], Message] = {}
    for m in messages:
        first.setdefault((m.topic, m.partition), m)
    return list(first.values())


def decode_message(message: Message) -> tuple[Envelope, EventData]:
    """A record's envelope and typed data; `PoisonMessage` when it is not a valid event."""
    return decode_record(message.value)


def _traceparent_in(message: Message) -> str | None:
    """The envelope's context: a record published without trace headers still continues
    its event's trace."""
    try:
        return decode_message(message)[0].traceparent
    except PoisonMessage:
        return None
