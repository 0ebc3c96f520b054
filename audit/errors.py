"""The requests audit refuses, each with the HTTP status the API answers with (the API turns
them into problems: audit/api.py, `_problem`)."""

from __future__ import annotations


class AuditError(Exception):
    """A request audit refuses; `status` is the HTTP status the API answers with."""

    status = 400


class NotFound(AuditError):
    status = 404


class Conflict(AuditError):
    status = 409


class NotAllowed(AuditError):
    status = 403


class Invalid(AuditError):
    status = 422

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field
