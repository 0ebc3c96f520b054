"""Erasure: take a person's data out of archived events while keeping everything that is
counted (ids, sources, stages, times, amounts).

Two passes over an event's `data`: every field that holds personal data by name (the
`LeadProfile` contact fields, free text like `need` and `answers`, a provider's lead id) is
blanked (None, {} or []), which keeps the payload valid against its schema; then every other
string has the person's values (and the local part and domain of their email) replaced by
`[erased]`, because other services echo them in reasons ("has a company (Acme GmbH)").
Identifier and category fields (`*_id`, `source`, `stage`, ...) are never rewritten, so the
read models and metrics built from them do not change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

ERASED = "[erased]"

PII_FIELDS = frozenset(
    {
        "email",
        "phone",
        "phone_raw",
        "first_name",
        "last_name",
        "full_name",
        "company",
        "company_domain",
        "job_title",
        "need",
        "answers",
        "utm",
        "engagements",
        "external_id",
        "comment",
        "contacted_by",
    }
)
"""Fields whose whole value is personal data, wherever they appear in an event."""

STRUCTURAL_FIELDS = frozenset(
    {
        "source",
        "source_class",
        "provider",
        "channel",
        "stage",
        "term",
        "lifecycle",
        "action",
        "currency",
        "sla",
        "track",
        "pool",
        "rule",
        "strategy",
        "queue",
    }
)
"""Category fields that metrics group by; never rewritten (nor is any `*_id`)."""

MIN_VALUE_LENGTH = 3


def _is_structural(key: str) -> bool:
    return key.endswith("_id") or key in STRUCTURAL_FIELDS


def personal_values(data: Any) -> set[str]:
    """The strings in `data` that are the person's: values of PII fields, anywhere."""
    found: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= MIN_VALUE_LENGTH:
                found.add(value)
            if "@" in value:
                local, _, domain = value.partition("@")
                found.update(v for v in (local, domain) if len(v) >= MIN_VALUE_LENGTH)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, v in value.items():
                if key in PII_FIELDS:
                    collect(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(data)
    return found


def _pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted({v for v in values if len(v) >= MIN_VALUE_LENGTH}, key=len, reverse=True)
    if not ordered:
        return None
    return re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE)


def scrub_text(text: str, values: Iterable[str]) -> str:
    """`text` with every occurrence of the person's values replaced by [erased]."""
    pattern = _pattern(values)
    return pattern.sub(ERASED, text) if pattern else text


def _blank(value: Any) -> Any:
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    return None


def redact(data: Any, values: Iterable[str]) -> Any:
    """A copy of `data` without the person's data (see the module docstring)."""
    pattern = _pattern(values)

    def walk(value: Any, structural: bool) -> Any:
        if isinstance(value, dict):
            return {
                key: _blank(v) if key in PII_FIELDS else walk(v, _is_structural(key))
                for key, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v, structural) for v in value]
        if isinstance(value, str) and pattern is not None and not structural:
            return pattern.sub(ERASED, value)
        return value

    return walk(data, False)


def redact_envelope(envelope: dict[str, Any], values: Iterable[str]) -> dict[str, Any]:
    """An archived CloudEvent with its `data` redacted; the envelope's own attributes (id,
    type, subject = lead id, time, source) stay, so the timeline keeps its shape and order."""
    return {**envelope, "data": redact(envelope.get("data", {}), values)}
