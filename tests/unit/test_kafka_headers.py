"""What the Kafka bus puts in a record's headers."""

from __future__ import annotations

from services.bus.kafka import kafka_headers
from services.outbox import OutboundRecord


def test_an_outbox_row_written_before_headers_goes_out_in_structured_mode() -> None:
    legacy = OutboundRecord(topic="t", key="lead", value=b"{}", headers={})
    assert kafka_headers(legacy) == [("content-type", b"application/cloudevents+json")]


def test_a_record_with_headers_keeps_exactly_them() -> None:
    letter = OutboundRecord(
        topic="t.dlq", key=None, value=b"not an event", headers={"x-leadfarm-error": "bad"}
    )
    assert kafka_headers(letter) == [("x-leadfarm-error", b"bad")]
