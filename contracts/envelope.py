"""The CloudEvents 1.0 envelope every Leadfarm event travels in.

On Kafka we use the *structured* content mode: the record value is the whole envelope as
JSON (`application/cloudevents+json`) and the record key is the lead id, so that one lead's
events stay in order on one partition. The embedded runtime stores exactly the same bytes in
its event log, so both runtimes parse events with one function.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

SPECVERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"


def new_traceparent() -> str:
    """A fresh W3C trace context header value (version 00, sampled)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_traceparent(parent: str | None) -> str:
    """Continue a trace: same trace id, new span id. Starts a new trace when there is none."""
    if parent:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            return f"00-{parts[1]}-{secrets.token_hex(8)}-{parts[3]}"
    return new_traceparent()


class Envelope(BaseModel):
    """A CloudEvent (structured mode) whose `data` is still a plain JSON object.

    `contracts.events.parse_data` turns `data` into the typed model named by `type`.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str = Field(description="The service that said it, e.g. /leadfarm/ingest")
    type: str = Field(description="Versioned event type, e.g. leadfarm.lead.captured.v1")
    specversion: Literal["1.0"] = SPECVERSION
    time: datetime
    subject: str = Field(description="The lead id the event is about")
    datacontenttype: str = DATA_CONTENT_TYPE
    dataschema: str | None = None
    traceparent: str = Field(default_factory=new_traceparent)
    data: dict[str, Any]

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        return cls.model_validate(orjson.loads(raw))
