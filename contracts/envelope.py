"""The CloudEvents 1.0 envelope every Leadfarm event travels in.

On Kafka we use the *structured* content mode of the CloudEvents Kafka protocol binding:
the record value is the whole envelope as JSON and the record's `content-type` header is
`application/cloudevents+json` (without it, a CloudEvents SDK takes the record for binary
mode and refuses it); the record key is the lead id, so that one lead's events stay in order
on one partition. The embedded runtime stores exactly the same bytes and headers in its
event log, so both runtimes parse events with one function.
"""

from __future__ import annotations

import os
import random
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.ids import new_id

SPECVERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
CONTENT_TYPE_HEADER = "content-type"

# `dataschema` is `SCHEMA_BASE_URI` + `<type>.json`: an identifier (like a JSON Schema `$id`)
# of the file contracts/schemas/<type>.json, whose `$id` it also is. Records written before
# it was absolute say `contracts/schemas/<type>.json`; they are read as the absolute URI.
SCHEMA_BASE_URI = "https://leadfarm.dev/schemas/"
LEGACY_SCHEMA_PREFIX = "contracts/schemas/"


def structured_mode_headers() -> dict[str, str]:
    """The record headers of an event in structured mode (the Kafka binding, section 3.2)."""
    return {CONTENT_TYPE_HEADER: CONTENT_TYPE}


_IDS = random.Random()
"""Trace and span ids come from a generator of their own, as OpenTelemetry's
`RandomIdGenerator` draws them from `random`: a trace id is a correlation id, never a
secret, and `os.urandom` costs a system call per id, several per lead. Not the module's
shared generator, whose sequence a program (or a test framework) may seed or watch."""
os.register_at_fork(after_in_child=_IDS.seed)  # a forked replica draws other ids


def _random_hex(bits: int) -> str:
    """A random non-zero id of `bits` bits as lowercase hex (W3C Trace Context forbids
    all-zero ids)."""
    return f"{_IDS.getrandbits(bits) or 1:0{bits // 4}x}"


def new_correlation_id() -> str:
    """A random 128-bit id as 32 lowercase hex digits, from the trace ids' generator: a
    request id, which names a request in the logs and is never a secret."""
    return _random_hex(128)


def new_traceparent() -> str:
    """A fresh W3C trace context header value (version 00, sampled)."""
    return f"00-{_random_hex(128)}-{_random_hex(64)}-01"


def child_traceparent(parent: str | None) -> str:
    """Continue a trace: same trace id, new span id. Starts a new trace when there is none."""
    if parent:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            return f"00-{parts[1]}-{_random_hex(64)}-{parts[3]}"
    return new_traceparent()


class Envelope(BaseModel):
    """A CloudEvent (structured mode) whose `data` is still a plain JSON object.

    `contracts.events.parse_data` turns `data` into the typed model named by `type`.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(default_factory=new_id)
    source: str = Field(description="The service that said it, e.g. /leadfarm/ingest")
    type: str = Field(description="Versioned event type, e.g. leadfarm.lead.captured.v1")
    specversion: Literal["1.0"] = SPECVERSION
    time: datetime
    subject: str = Field(description="The lead id the event is about")
    datacontenttype: str = DATA_CONTENT_TYPE
    dataschema: str | None = Field(
        None,
        description="Absolute URI of the data's JSON Schema: "
        f"{SCHEMA_BASE_URI}<type>.json (contracts/schemas/<type>.json)",
        json_schema_extra={"format": "uri"},
    )
    traceparent: str = Field(default_factory=new_traceparent)
    data: dict[str, Any]

    @field_validator("dataschema")
    @classmethod
    def _absolute_dataschema(cls, value: str | None) -> str | None:
        """Old records carry the relative path; an accepted event is never refused for it."""
        if value is not None and value.startswith(LEGACY_SCHEMA_PREFIX):
            return SCHEMA_BASE_URI + value.removeprefix(LEGACY_SCHEMA_PREFIX)
        return value

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        return cls.model_validate(orjson.loads(raw))
