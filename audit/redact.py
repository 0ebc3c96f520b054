"""Erasure: take a person's data out of archived events while keeping everything that is
counted (ids, sources, stages, times, amounts). The redaction itself is shared by every
service and lives in `services.erasure`; see its docstring."""

from __future__ import annotations

from services.erasure import (
    ERASED,
    MIN_VALUE_LENGTH,
    PII_FIELDS,
    STRUCTURAL_FIELDS,
    personal_values,
    redact,
    redact_envelope,
    scrub_text,
)

__all__ = [
    "ERASED",
    "MIN_VALUE_LENGTH",
    "PII_FIELDS",
    "STRUCTURAL_FIELDS",
    "personal_values",
    "redact",
    "redact_envelope",
    "scrub_text",
]
