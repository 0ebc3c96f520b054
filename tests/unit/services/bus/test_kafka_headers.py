"""What the Kafka bus puts in a record's headers."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import ConsumerRecord

from services.bus.kafka import kafka_headers, message_of
from services.consumer import decode_message
from services.decoding import PoisonMessage
from services.outbox import OutboundRecord


def test_an_outbox_row_written_before_headers_goes_out_in_structured_mode() -> None:
    legacy = OutboundRecord(topic="t", key="lead", value=b"{}", headers={})
    assert kafka_headers(legacy) == [("content-type", b"application/cloudevents+json")]


def test_a_record_with_headers_keeps_exactly_them() -> None:
    letter = OutboundRecord(
        topic="t.dlq", key=None, value=b"not an event", headers={"x-leadfarm-error": "bad"}
    )
    assert kafka_headers(letter) == [("x-leadfarm-error", b"bad")]


def record(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
    return ConsumerRecord(
        topic="t.ingest",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=headers,
    )


def test_a_record_whose_key_or_headers_are_not_utf8_still_reaches_the_runner() -> None:
    """Any producer can write to a topic: bad bytes in a key or a header must not stop the
    consumer at that offset (decoding them raised in the fetch, forever)."""
    message = message_of(record(b"lead-\xff", b"{}", [("content-type", b"application/\xfe")]))
    assert message.key == "lead-\ufffd"
    assert message.headers == {"content-type": "application/\ufffd"}
    assert message.offset == 7


def test_a_record_without_a_value_is_poison_for_the_runner_not_a_crash() -> None:
    message = message_of(record(b"lead-1", None, []))
    assert message.value == b""
    with pytest.raises(PoisonMessage):
        decode_message(message)
