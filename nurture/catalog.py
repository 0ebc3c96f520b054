"""The tracks and templates in force: the tracks file's, overridden by id by those put
through the manager API (kept in nurture's tables, so every replica sees them at once),
and the API's changes to them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from nurture.definitions import CalendarDef, EngagementDef, TemplateDef, TrackDef, TracksFile
from nurture.errors import MissingTemplates, NotInNurture, TrackInFile, TrackInUse
from nurture.records import StoredDefinition
from nurture.repository import enrolments, stored_definitions
from services.db import Conn, Tx

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

    async def put_track(
        self, tx: Tx, track: TrackDef, definition: dict[str, Any], by: tuple[str, str | None]
    ) -> StoredDefinition:
        """Create or replace a track (`by`: the API key's id and name); every template it
        names must exist."""
        catalog = await self.current(tx)
        missing = [
            (path, name) for path, name in track.templates() if name not in catalog.templates
        ]
        if missing:
            raise MissingTemplates(missing)
        return await stored_definitions.put_api_definition(
            tx, "track", track.id, definition, tx.now(), by
        )

    async def delete_track(self, tx: Tx, track_id: str) -> None:
        """Delete a track put through the API. A file's track cannot be deleted; an API-only
        track cannot be while leads are on it."""
        catalog = await self.current(tx)
        in_file = any(t.id == track_id for t in catalog.file.tracks)
        if catalog.track_origin.get(track_id) != "api":
            if in_file:
                raise TrackInFile(track_id)
            raise NotInNurture(f"There is no track {track_id!r}.")
        active = await enrolments.count_active_on(tx, track_id)
        if active and not in_file:
            raise TrackInUse(track_id, active)
        await stored_definitions.delete_api_definition(tx, "track", track_id)

    async def put_template(
        self, tx: Tx, template_id: str, definition: dict[str, Any], by: tuple[str, str | None]
    ) -> StoredDefinition:
        return await stored_definitions.put_api_definition(
            tx, "template", template_id, definition, tx.now(), by
        )
