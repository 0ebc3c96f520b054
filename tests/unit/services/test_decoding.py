"""Records parsed once per process (services/decoding.py): an event said in this process is
kept with the envelope and data it was made from, and those are exactly what parsing its
bytes gives, for every event type; anything else is parsed, and poison refused."""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.envelope import Envelope
from contracts.events import EVENT_TYPES, make_envelope, parse_data
from services import decoding
from services.decoding import PoisonMessage, decode_record, remember_said, said_record

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"
NOW = datetime(2026, 12, 6, 22, 30, 1, 123456, tzinfo=UTC)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_what_is_kept_for_a_said_event_is_what_parsing_its_record_gives(event_type: str) -> None:
    fixture = Envelope.model_validate(json.loads((FIXTURES / f"{event_type}.json").read_text()))
    data = parse_data(fixture)
    said = make_envelope(data, time=NOW, traceparent=fixture.traceparent)
    record = said.to_json()

    parsed = Envelope.from_json(record)
    assert parsed == said
    parsed_data = parse_data(parsed)
    assert parsed_data == data
    assert parsed_data.model_dump() == data.model_dump()  # nested values too, by type
    assert repr(parsed_data) == repr(data)

    remember_said(record, said, data)
    assert decode_record(bytes(record)) == (said, data)
    assert decode_record(bytes(record))[1] is data  # not parsed again


def test_a_record_is_parsed_once_and_poison_refused_every_time() -> None:
    fixture = (FIXTURES / "leadfarm.lead.captured.v1.json").read_bytes()
    first = decode_record(fixture)
    assert decode_record(bytes(fixture))[1] is first[1]
    for poison in (b"not json", b'{"type": "leadfarm.nothing.v1"}'):
        for _ in range(2):
            with pytest.raises(PoisonMessage):
                decode_record(poison)


def test_the_oldest_record_goes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoding, "RECORDS", 2)
    monkeypatch.setattr(decoding, "_kept", OrderedDict())
    records = [
        make_envelope(
            parse_data(
                Envelope.from_json((FIXTURES / "leadfarm.lead.captured.v1.json").read_bytes())
            ),
            time=NOW,
        ).to_json()
        for _ in range(3)
    ]
    for record in records:
        decode_record(record)
    assert list(decoding._kept) == records[1:]


def test_the_record_said_for_an_envelope_is_found_for_that_envelope_only() -> None:
    data = parse_data(
        Envelope.from_json((FIXTURES / "leadfarm.lead.captured.v1.json").read_bytes())
    )
    said = make_envelope(data, time=NOW)
    record = said.to_json()
    remember_said(record, said, data)
    assert said_record(said) == record
    assert said_record(Envelope.from_json(record)) is None  # equal, but read, not said here
    assert said_record(make_envelope(data, time=NOW)) is None  # never said
