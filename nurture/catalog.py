"""The tracks and templates in force: the tracks file's, overridden by id by those put
through the manager API (kept in nurture's tables, so every replica sees them at once)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from nurture.definitions import CalendarDef, EngagementDef, TemplateDef, TrackDef, TracksFile
from nurture.records import StoredDefinition
from nurture.repository import Conn, stored_definitions

log = logging.getLogger(__name__)

Origin = Literal["file", "api"]


@dataclass(frozen=True)
class Catalog:
    file: TracksFile
    tracks: dict[str, TrackDef]
    track_origin: dict[str, Origin]
    track_version: dict[str, int]
    track_stored: dict[str, StoredDefinition]
    """The API's tracks as stored: when and by whom they were last changed."""
    templates: dict[str, TemplateDef]
    template_origin: dict[str, Origin]

    @property
    def engagement(self) -> EngagementDef:
        return self.file.engagement

    def ordered_tracks(self) -> list[TrackDef]:
        """In the order they are tried: by priority, highest first; ties in file order (an
        API override keeps the file's place), then API-only tracks by id."""
        file_ids = [t.id for t in self.file.tracks]
        rest = sorted(i for i in self.tracks if i not in file_ids)
        listed = [self.tracks[i] for i in file_ids + rest if i in self.tracks]
        return sorted(listed, key=lambda t: -t.priority)

    def calendar_for(self, track: TrackDef | None) -> CalendarDef:
        if track is not None and track.calendar is not None:
            return track.calendar
        return self.file.calendar

    def threshold_for(self, track: TrackDef | None) -> float:
        if track is not None and track.recycle_threshold is not None:
            return track.recycle_threshold
        return self.file.engagement.threshold


class TrackCatalog:
    def __init__(self, file: TracksFile, file_name: str) -> None:
        self.file = file
        self.file_name = file_name

    async def current(self, conn: Conn) -> Catalog:
        tracks = {t.id: t for t in self.file.tracks}
        track_origin: dict[str, Origin] = dict.fromkeys(tracks, "file")
        track_version = dict.fromkeys(tracks, 0)
        track_stored: dict[str, StoredDefinition] = {}
        templates = dict(self.file.templates)
        template_origin: dict[str, Origin] = dict.fromkeys(templates, "file")
        for stored in await stored_definitions.api_definitions(conn, "template"):
            try:
                templates[stored.id] = TemplateDef.model_validate(stored.definition)
                template_origin[stored.id] = "api"
            except ValidationError as exc:
                log.error("stored template %s no longer validates, ignored: %s", stored.id, exc)
        for stored in await stored_definitions.api_definitions(conn, "track"):
            try:
                tracks[stored.id] = TrackDef.model_validate({**stored.definition, "id": stored.id})
                track_origin[stored.id] = "api"
                track_version[stored.id] = stored.version
                track_stored[stored.id] = stored
            except ValidationError as exc:
                log.error("stored track %s no longer validates, ignored: %s", stored.id, exc)
        return Catalog(
            self.file,
            tracks,
            track_origin,
            track_version,
            track_stored,
            templates,
            template_origin,
        )
