"""The requests audit refuses, each with the HTTP status the API answers with, and the one
place the API turns them into problems (`refusals`, a dependency of every audit route)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.problems import Problem, field_error


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


def problem(exc: AuditError) -> Problem:
    if isinstance(exc, Invalid):
        return Problem(exc.status, str(exc), errors=[field_error(exc.field, str(exc))])
    return Problem(exc.status, str(exc))


async def refusals() -> AsyncIterator[None]:
    """What audit refuses (`AuditError`, raised by the domain) is answered as a problem, in
    one place for every route; the route's transaction has rolled back by then."""
    try:
        yield
    except AuditError as exc:
        raise problem(exc) from exc
