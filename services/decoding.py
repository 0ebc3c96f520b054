"""Event records parsed once per process, and the events a process says not parsed at all.

In the embedded runtime every event is read by two or three consumers (its service's,
audit's...), all in the process that said it; validating a record was an eighth of a
lead's CPU when each consumer parsed it. So a record is parsed once, and kept by its bytes
for the consumers that read it next. An event said in this process is kept under the bytes
written for it (`remember_said`, called by `services.outbox.emit`) with the very envelope
and data it was made from: the consumers that read it back get them without parsing. They
are what parsing those bytes gives (tests/unit/services/test_decoding.py checks it for
every event type), and the models are frozen, so sharing them is safe. Audit's archive,
which stores each event's JSON, takes the bytes said for it (`said_record`) rather than
encoding the envelope again.

Keyed by the bytes themselves, so a rewritten (redacted) record is parsed anew. The oldest
entry goes first once RECORDS are kept: a record is read within moments of being written.
"""

from __future__ import annotations

from collections import OrderedDict

from pydantic import ValidationError

from contracts.envelope import Envelope
from contracts.events import EventData, UnknownEventType, parse_data

RECORDS = 4096
"""How many records are kept (a few MB)."""

# OrderedDicts: a plain dict's oldest key is found by walking past every key deleted
# before it (until the dict is next resized), which cost more than the parse it saves.
_kept: OrderedDict[bytes, tuple[Envelope, EventData]] = OrderedDict()
_said: OrderedDict[str, tuple[Envelope, bytes]] = OrderedDict()
"""Event id -> the envelope said in this process and the bytes written for it."""


class PoisonMessage(Exception):
    """The message can never be handled (not an event, unknown type, invalid data)."""


def decode_record(value: bytes) -> tuple[Envelope, EventData]:
    """A record's envelope and typed data; `PoisonMessage` when it is not a valid event."""
    kept = _kept.get(value)
    if kept is not None:
        return kept
    try:
        envelope = Envelope.from_json(value)
        decoded = envelope, parse_data(envelope)
    except (ValidationError, UnknownEventType, ValueError) as exc:
        raise PoisonMessage(str(exc)) from exc
    _keep(value, decoded)
    return decoded


def remember_said(value: bytes, envelope: Envelope, data: EventData) -> None:
    """Keep an event this process said under the bytes written for it: `value` is
    `envelope.to_json()`, and `envelope` was made from `data`."""
    _keep(value, (envelope, data))
    if len(_said) >= RECORDS:
        _said.popitem(last=False)
    _said[envelope.id] = (envelope, value)


def said_record(envelope: Envelope) -> bytes | None:
    """The bytes written for `envelope` (`envelope.to_json()`) when this very envelope was
    said in this process and is still kept; otherwise None."""
    said = _said.get(envelope.id)
    return said[1] if said is not None and said[0] is envelope else None


def _keep(value: bytes, decoded: tuple[Envelope, EventData]) -> None:
    if len(_kept) >= RECORDS:
        _kept.popitem(last=False)
    _kept[value] = decoded
