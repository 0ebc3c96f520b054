"""nurture's domain errors (api.py answers them as problems)."""

from __future__ import annotations


class NotInNurture(LookupError):
    """The lead has no enrolment in nurture."""


class InvalidToken(ValueError):
    """An unsubscribe or tracking token that is forged, expired or malformed."""


class MissingTemplates(ValueError):
    """A track names templates that do not exist."""

    def __init__(self, missing: list[tuple[str, str]]) -> None:
        super().__init__(f"no templates {[name for _, name in missing]}")
        self.missing = missing
        """(where in the track, the template's name)"""


class TrackInFile(ValueError):
    """The track is the tracks file's: it is changed in the file, or overridden."""


class TrackInUse(ValueError):
    """Leads are on the track still."""

    def __init__(self, active: int) -> None:
        super().__init__(f"{active} leads are on the track")
        self.active = active
