"""The one domain-error type: what a service's domain refuses to do in the current state,
raised below the routes and answered by the chassis as a problem (`install_problem_handlers`
turns every `DomainError` into RFC 9457 problem details with its `status`).

Domain code raises the subclass that says why (`NotFound`, `Conflict`, `NotAllowed`,
`Invalid` naming the field, or a service's own subclass of one, such as nurture's
`TrackInUse`), with the answer's `detail` and, where it is about fields, `errors`; it never
builds HTTP responses, and routes need no wrapper of their own. The transaction the route
opened has rolled back by the time the answer is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One field a refusal is about: `field` a dotted path into the request, `message` what
    is wrong with it, and `line` the line of a text document the request carried (the
    qualifier's YAML definitions) when the field is in one."""

    field: str
    message: str
    line: int | None = None


class DomainError(Exception):
    """A request the domain refuses; `status` is the HTTP status the API answers with, and
    `errors` the fields it is about (the problem's `errors`), if any."""

    status = 400

    def __init__(self, detail: str, *, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)


class NotFound(DomainError):
    """What the request names does not exist (or is not visible to the caller)."""

    status = 404


class Conflict(DomainError):
    """The thing's current state does not allow the action."""

    status = 409


class NotAllowed(DomainError):
    """The caller may not do this."""

    status = 403


class Invalid(DomainError):
    """A field's value the domain rejects (`message` is said of `field`, `detail` of the
    request; the detail is the message when no separate one is given). A refusal of several
    fields at once is a `DomainError` with status 422 and each of them in `errors`."""

    status = 422

    def __init__(self, field: str, message: str, detail: str | None = None) -> None:
        super().__init__(detail or message, errors=[FieldError(field, message)])
        self.field = field
        self.message = message
