"""The router's domain error: an action its current state does not allow (issue 17 keeps it
the router's own until the services share one)."""

from __future__ import annotations


class Refused(Exception):
    """The action cannot be done in the lead's (or rep's) current state."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
