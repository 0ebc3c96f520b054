"""nurture's domain errors (api.py answers them as problems)."""

from __future__ import annotations


class NotInNurture(LookupError):
    """The lead has no enrolment in nurture."""


class InvalidToken(ValueError):
    """An unsubscribe or tracking token that is forged, expired or malformed."""
