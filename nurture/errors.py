"""What nurture refuses: the chassis's domain errors (services/errors.py) under the names that
say why. The handler every app installs answers each as a problem; routes catch none."""

from __future__ import annotations

from services.errors import Conflict, DomainError, FieldError, NotFound


class NotInNurture(NotFound):
    """What the request names is not in nurture: a lead, an email, a track or a task."""


class InvalidToken(DomainError):
    """An unsubscribe or tracking link whose token is forged, expired or malformed (400)."""


class MissingTemplates(DomainError):
    """A track names templates that do not exist (422, naming where in the track)."""

    status = 422

    def __init__(self, missing: list[tuple[str, str]]) -> None:
        super().__init__(
            "The track names templates that do not exist; PUT them first.",
            errors=[FieldError(path, f"there is no template {name!r}") for path, name in missing],
        )
        self.missing = missing
        """(where in the track, the template's name)"""


class TrackInFile(Conflict):
    """The track is the tracks file's: it is changed in the file, or overridden."""

    def __init__(self, track_id: str) -> None:
        super().__init__(
            f"Track {track_id!r} is defined in the tracks file; change the file, "
            "or override it with PUT (active: false stops new enrolments)."
        )


class TrackInUse(Conflict):
    """Leads are on the track still."""

    def __init__(self, track_id: str, active: int) -> None:
        super().__init__(
            f"{active} leads are on track {track_id!r}; PUT it with active: false to "
            "stop new enrolments, and delete it when they are done."
        )
        self.active = active


class TaskDone(Conflict):
    """The call task was completed already."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"Task {task_id!r} is already done.")
