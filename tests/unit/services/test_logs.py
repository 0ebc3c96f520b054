"""Logs are JSON, carry the lead and event ids in context, and never carry lead PII or keys."""

from __future__ import annotations

import json
import logging

import pytest

from services.logs import JsonFormatter, event_id_var, lead_id_var, log_fields, redact


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("lead from Dana.Lee@Acme.example arrived", "Dana.Lee@Acme.example"),
        ("call +49 30 1234567 back", "1234567"),
        ("call (030) 123-4567 back", "123-4567"),
        ("Authorization: Bearer lf_0123456789ab_s3cr3tT0ken", "s3cr3tT0ken"),
        ("key lf_0123456789ab_s3cr3tT0ken rejected", "s3cr3tT0ken"),
        ("key lf_0123456789ab__s3_cr-3t rejected", "cr-3t"),
    ],
)
def test_pii_and_keys_are_redacted(text: str, leaked: str) -> None:
    assert leaked not in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "listening on 127.0.0.1:8000",
        "lead 550e8400-e29b-41d4-a716-446655440000 assigned",
        "due 2026-11-22 19:35",
        "offset 1234 of partition 3",
    ],
)
def test_what_is_not_pii_survives(text: str) -> None:
    assert redact(text) == text


def test_json_lines_carry_context_and_fields() -> None:
    record = logging.LogRecord(
        "router", logging.INFO, __file__, 1, "assigned to %s", ("ana",), None
    )
    record.fields = log_fields(pool="emea", email="x@y.example")["fields"]
    lead_token = lead_id_var.set("lead-1")
    event_token = event_id_var.set("event-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        lead_id_var.reset(lead_token)
        event_id_var.reset(event_token)
    assert line["msg"] == "assigned to ana"
    assert line["lead_id"] == "lead-1"
    assert line["event_id"] == "event-1"
    assert line["pool"] == "emea"
    assert line["email"] == "[email]"
    assert line["level"] == "info"
