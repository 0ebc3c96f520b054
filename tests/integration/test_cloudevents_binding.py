"""Leadfarm's records as the official CloudEvents SDK reads them, on both runtimes: the
records a lead produces (on the real Kafka broker, or in the embedded log) decode with the
SDK's Kafka binding to the same id, type, source, subject and data; dataschema is an
absolute URI; and a record written before these changes (no headers, a relative
dataschema) is still read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat

from contracts.envelope import Envelope
from contracts.events import LeadReceived, make_envelope, schema_uri
from tests.backends import Backend, Record

LEAD = {
    "email": "Kai.Binding@Acme.example",
    "company": "Acme",
    "country": "DE",
    "source": "website",
    "timeframe_days": 300,
}


def content_mode(record: Record) -> str:
    """The CloudEvents Kafka protocol binding, section 3: a `content-type` header that
    starts with `application/cloudevents` is structured mode, anything else binary mode.
    (The Go SDK decides so; the Python SDK's `from_kafka` instead guesses structured when
    no `ce_` header is present, which would hide a missing `content-type`.)"""
    content_type = record.headers.get("content-type", b"").decode()
    return "structured" if content_type.startswith("application/cloudevents") else "binary"


def sdk_decode(record: Record) -> BaseCloudEvent:
    message = ce_kafka.KafkaMessage(headers=record.headers, key=record.key, value=record.value)
    if content_mode(record) == "structured":
        return ce_kafka.from_structured(message, JSONFormat())
    return ce_kafka.from_binary(message, JSONFormat())


async def test_the_sdk_reads_every_record_a_lead_produces(backend: Backend) -> None:
    lead_id = await backend.post_lead(**LEAD)
    await backend.timeline_with(lead_id, "leadfarm.lead.deferred.v1")
    records = [r for s in ("ingest", "qualifier") for r in await backend.records(s)]
    ours = [r for r in records if r.key == lead_id.encode()]
    assert len(ours) >= 3, "lead.received, lead.captured, lead.deferred"

    for record in ours:
        assert content_mode(record) == "structured", record.headers
        event = sdk_decode(record)
        envelope = Envelope.from_json(record.value)
        assert event.get_id() == envelope.id
        assert event.get_type() == envelope.type
        assert event.get_source() == envelope.source
        assert event.get_subject() == envelope.subject == lead_id
        assert event.get_data() == envelope.data
        assert event.get_extension("traceparent") == envelope.traceparent
        assert event.get_extension("partitionkey") == lead_id  # the record key
        dataschema = event.get_dataschema()
        assert dataschema == schema_uri(envelope.type)
        assert urlsplit(dataschema).scheme == "https", "dataschema must be an absolute URI"
        # The SDK's own guess agrees.
        message = ce_kafka.KafkaMessage(record.headers, record.key, record.value)
        assert ce_kafka.from_kafka(message, JSONFormat()).get_id() == envelope.id


async def test_a_record_from_before_the_binding_is_still_read(backend: Backend) -> None:
    """Said before records carried `content-type` and before dataschema was absolute."""
    lead_id = "0b7c6f1e-9a51-4d0f-8d43-6c3f2f4d1a77"
    now = datetime.now(UTC)
    received = LeadReceived(
        lead_id=lead_id, delivery_id="d-old", source="website", provider="api", received_at=now
    )
    old: dict[str, Any] = make_envelope(received, time=now).model_dump(mode="json")
    old["dataschema"] = "contracts/schemas/leadfarm.lead.received.v1.json"
    await backend.inject("ingest", lead_id, orjson.dumps(old))  # no headers, as it was

    [archived] = await backend.timeline_with(lead_id, LeadReceived.TYPE)
    assert archived["id"] == old["id"]
    assert archived["dataschema"] == schema_uri(LeadReceived.TYPE)
