"""Structured JSON logs that carry the lead id, event id, request id and trace id of the
work at hand, with lead PII redacted and secrets never written.

Context comes from contextvars set by the consumer runner and the HTTP middleware, so a
log call anywhere below them is tagged without passing ids around.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from services import tracing

lead_id_var: ContextVar[str | None] = ContextVar("lead_id", default=None)
event_id_var: ContextVar[str | None] = ContextVar("event_id", default=None)
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
trace_id_var: ContextVar[str | None] = ContextVar("trace_id", default=None)
"""The W3C trace id of the request or event at hand, when tracing is off (when it is on,
the current span's ids are logged)."""
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def trace_id_of(traceparent: str) -> str | None:
    """The trace id of a valid W3C `traceparent` (version 00), else None."""
    found = _TRACEPARENT.fullmatch(traceparent.strip())
    if found is None or found[1] == "0" * 32:
        return None
    return found[1]


# An address, also URL-encoded (`%40`, as in a logged request URL) and also cut short
# (pydantic shortens long inputs in its errors: `jane.doe@exam...ple.com`): everything
# around the `@` that can belong to an address goes.
_EMAIL = re.compile(r"[\w.+%-]*[\w+%-](?:@|%40)[\w-]*(?:\.+[\w-]*)*", re.IGNORECASE)
# 7 to 15 digits with the usual separators (space, hyphen, parentheses): phone numbers in
# any format. Not inside words, ids, dotted addresses or times, so IPs and UUIDs survive;
# a number with a leading `+` goes wherever it stands (`tel:+4930...`, `phone:+4930...`,
# URL-encoded `%2B4930...`).
_PHONE = re.compile(
    r"(?:(?<![\w+])\+|(?i:%2b)|(?<![\w.:/+-]))"
    r"(?!\d{4}-\d{2}-\d{2})\(?\d(?:[\s()-]{0,2}\d){6,14}(?![\w.:/])"
)
_BEARER = re.compile(r"(?i)(bearer\s+|lf_[0-9a-f]{12}_)[A-Za-z0-9._~+/=_-]+")


def redact(text: str) -> str:
    """Mask email addresses, phone numbers and bearer tokens in free text."""
    # Every log line passes here: the substring tests skip the scans that cannot match.
    lowered = text.lower()
    if "bearer" in lowered or "lf_" in lowered:
        text = _BEARER.sub(r"\1[redacted]", text)
    if "@" in text or "%40" in text:
        text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, var in (
            ("lead_id", lead_id_var),
            ("event_id", event_id_var),
            ("request_id", request_id_var),
        ):
            value = var.get()
            if value:
                entry[key] = value
        ids = tracing.current_ids() if tracing.enabled else None
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        else:
            trace_id = trace_id_var.get()
            if trace_id:
                entry["trace_id"] = trace_id
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = _redact_value(value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return orjson.dumps(entry, default=lambda v: redact(str(v))).decode()


def _redact_value(value: Any) -> Any:
    """Structured fields are redacted all the way down (a dict or list of strings too)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact_value(v) for v in value]
    return value


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else TextFormatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every retriable connection error at ERROR; keep them but not the noise.
    logging.getLogger("aiokafka").setLevel(max(root.level, logging.WARNING))
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))


def log_fields(**fields: Any) -> dict[str, Any]:
    """`logger.info("...", extra=log_fields(pool="emea"))` adds structured fields."""
    return {"fields": fields}
