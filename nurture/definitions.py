"""Tracks, templates, the business calendar and engagement scoring, as written in the tracks
file (`nurture/tracks.yaml`, or `LEADFARM_NURTURE_TRACKS_FILE`) or put through the manager
API. docs/nurture.md describes every key.

A track is a named sequence of steps at day offsets from enrolment (an email from a
template, a task for inside sales, or a wait), optionally followed by a repeat (every N
days until a last day), chosen for a lead by its `when` rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contracts.events import LeadProfile, SourceClass
from services.controlchars import refuse_control_characters
from services.holidays import Holidays, PublicHolidaysIn

DEFAULT_FILE = Path(__file__).parent / "tracks.yaml"

Action = Literal["email", "task", "wait"]
Trigger = Literal["deferred", "returned", "deferred_again"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EngagementType = Literal[
    "opened",
    "clicked",
    "replied",
    "visited_key_page",
    "filled_form",
    "attended_webinar",
    "hand_raise",
]
ENGAGEMENT_TYPES: tuple[EngagementType, ...] = (
    "opened",
    "clicked",
    "replied",
    "visited_key_page",
    "filled_form",
    "attended_webinar",
    "hand_raise",
)
TRACK_ID = r"^[a-z0-9][a-z0-9-]{0,99}$"
MAX_STEPS = 500


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    _no_control_characters = field_validator("*")(refuse_control_characters)


class CalendarDef(Strict, PublicHolidaysIn):
    """When touches go out: business days and hours, in the lead's time zone when known.
    Days off are the public holidays of `country` (and `subdivision`) less
    `worked_holidays`, plus `holidays`."""

    timezone: str = Field("UTC", description="IANA time zone used when the lead's is unknown")
    lead_timezone: bool = Field(True, description="Use the time zone of the lead's country")
    lead_holidays: bool = Field(
        False,
        description="Use the public holidays of the lead's country (when known) instead of "
        "`country`'s; `holidays` still apply",
    )
    country_timezones: dict[str, str] = Field(
        default_factory=dict, description="Overrides of the country -> time zone table"
    )
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    send_at: time = Field(time(9, 0), description="Local time a day's touches go out")
    until: time = Field(time(17, 0), description="Local end of the business day")
    holidays: list[date] = Field(
        default_factory=list, description="Days off of its own, on top of the public holidays"
    )
    catch_up_hours: int = Field(
        24, ge=1, le=24 * 30, description="Least gap between touches when a track is behind"
    )

    @cached_property
    def days_off(self) -> Holidays:
        return Holidays.of(
            self.holidays,
            country=self.country,
            subdivision=self.subdivision,
            removed=self.worked_holidays,
        )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        _check_zone(value)
        return value

    @field_validator("country_timezones")
    @classmethod
    def _zones(cls, value: dict[str, str]) -> dict[str, str]:
        for zone in value.values():
            _check_zone(zone)
        return {k.upper(): v for k, v in value.items()}

    @field_validator("send_at", "until")
    @classmethod
    def _local(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a local time of day, without an offset (the zone is the lead's)")
        return value

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: list[Weekday]) -> list[Weekday]:
        if not value:
            raise ValueError("at least one business day is needed")
        return value

    @model_validator(mode="after")
    def _hours(self) -> CalendarDef:
        if self.until <= self.send_at:
            raise ValueError("until must be later than send_at")
        return self


def _check_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc


DEFAULT_POINTS: dict[EngagementType, float] = {
    "opened": 1,
    "clicked": 3,
    "visited_key_page": 5,
    "replied": 8,
    "filled_form": 10,
    "attended_webinar": 15,
    "hand_raise": 25,
}


class EngagementDef(Strict):
    """Engagement scoring: points per type, halved every `half_life_days`; a lead whose
    score reaches `threshold` (or who raises a hand) goes back to the qualifier."""

    half_life_days: float = Field(30.0, gt=0)
    threshold: float = Field(25.0, gt=0)
    points: dict[EngagementType, float] = Field(default_factory=lambda: dict(DEFAULT_POINTS))

    @field_validator("points")
    @classmethod
    def _all_points(cls, value: dict[EngagementType, float]) -> dict[EngagementType, float]:
        if any(p < 0 for p in value.values()):
            raise ValueError("points cannot be negative")
        return {**DEFAULT_POINTS, **value}


class TemplateDef(Strict):
    """An email template (Jinja2, sandboxed): the HTML part is autoescaped."""

    subject: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1, max_length=100_000)
    html: str | None = Field(None, max_length=200_000)
    description: str = ""


class StepDef(Strict):
    day: int = Field(ge=0, le=3650, description="Days after enrolment")
    action: Action
    template: str | None = Field(None, description="The email's template (action email)")
    task: str | None = Field(None, max_length=500, description="What inside sales does (task)")
    note: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _needs(self) -> StepDef:
        _check_action(self.action, self.template, self.task)
        return self


class RepeatStepDef(Strict):
    action: Action
    template: str | None = None
    task: str | None = Field(None, max_length=500)
    note: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _needs(self) -> RepeatStepDef:
        _check_action(self.action, self.template, self.task)
        return self


def _check_action(action: Action, template: str | None, task: str | None) -> None:
    if action == "email" and not template:
        raise ValueError("an email step needs a template")
    if action == "task" and not task:
        raise ValueError("a task step needs a task (what inside sales should do)")
    if action != "email" and template:
        raise ValueError(f"a {action} step has no template")


class RepeatDef(Strict):
    """After the last step: every `every_days`, the next of `steps` in turn, until
    `until_day` (inclusive)."""

    every_days: int = Field(ge=1, le=3650)
    until_day: int = Field(ge=1, le=3650)
    steps: list[RepeatStepDef] = Field(min_length=1)


class WhenDef(Strict):
    """Which leads a track is for. Every list given must match; an empty list matches all."""

    triggers: list[Trigger] = Field(
        default_factory=list, description="deferred (long-term), returned, deferred_again"
    )
    returned_reasons: list[str] = Field(
        default_factory=list,
        description="Words in the router's return reason or reason code (any)",
    )
    personas: list[str] = Field(default_factory=list, description="Words in the job title (any)")
    product_interests: list[str] = Field(
        default_factory=list, description="Product interests (any, case-insensitive)"
    )
    source_classes: list[SourceClass] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2")


class TrackBody(Strict):
    """A track, as put through the API (the id is in the path)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    active: bool = Field(True, description="Inactive tracks take no new enrolments")
    priority: int = Field(0, description="Higher is tried first when choosing a track")
    when: WhenDef = Field(default_factory=WhenDef)
    legitimate_interest: bool = Field(
        False,
        description="Email leads with no recorded opt-in (but no refusal) under legitimate "
        "interest. Off unless the business has assessed it for this track's audience.",
    )
    recycle_threshold: float | None = Field(None, gt=0, description="Overrides the file's")
    calendar: CalendarDef | None = None
    steps: list[StepDef] = Field(min_length=1)
    repeat: RepeatDef | None = None

    @model_validator(mode="after")
    def _order(self) -> TrackBody:
        days = [s.day for s in self.steps]
        if days != sorted(days):
            raise ValueError("steps must be in order of day")
        if self.repeat is not None and self.repeat.until_day <= days[-1]:
            raise ValueError("repeat.until_day must be after the last step's day")
        total = len(self.steps)
        if self.repeat is not None:
            total += (self.repeat.until_day - days[-1]) // self.repeat.every_days
        if total > MAX_STEPS:
            raise ValueError(f"the track expands to {total} steps; at most {MAX_STEPS}")
        return self

    def templates(self) -> list[tuple[str, str]]:
        """(field path, template id) of every email step."""
        out = [(f"steps.{i}.template", s.template) for i, s in enumerate(self.steps) if s.template]
        if self.repeat is not None:
            out += [
                (f"repeat.steps.{i}.template", s.template)
                for i, s in enumerate(self.repeat.steps)
                if s.template
            ]
        return out


class TrackDef(TrackBody):
    id: str = Field(pattern=TRACK_ID)


class TracksFile(Strict):
    version: str = Field(min_length=1, max_length=100)
    description: str = ""
    calendar: CalendarDef = Field(default_factory=CalendarDef)
    engagement: EngagementDef = Field(default_factory=EngagementDef)
    templates: dict[str, TemplateDef] = Field(default_factory=dict)
    tracks: list[TrackDef] = Field(min_length=1)

    @field_validator("templates")
    @classmethod
    def _template_ids(cls, value: dict[str, TemplateDef]) -> dict[str, TemplateDef]:
        for name in value:
            if not re.match(TRACK_ID, name):
                raise ValueError(f"template id {name!r}: lowercase letters, digits and '-'")
        return value

    @model_validator(mode="after")
    def _references(self) -> TracksFile:
        seen: set[str] = set()
        for track in self.tracks:
            if track.id in seen:
                raise ValueError(f"track {track.id!r} is defined twice")
            seen.add(track.id)
            for path, template in track.templates():
                if template not in self.templates:
                    raise ValueError(f"track {track.id!r} {path}: no template {template!r}")
        return self


class DefinitionsError(ValueError):
    """The tracks file does not validate; the message names each problem."""


def load_file(path: Path) -> TracksFile:
    from nurture.templates import template_errors

    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DefinitionsError(f"{path}: {exc}") from exc
    try:
        loaded = TracksFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise DefinitionsError(f"{path}: {problems}") from exc
    issues = [
        f"templates.{name}.{part}: {message}"
        for name, template in loaded.templates.items()
        for part, message in template_errors(template)
    ]
    if issues:
        raise DefinitionsError(f"{path}: " + "; ".join(issues))
    return loaded


# --- the schedule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledStep:
    number: int
    """From 1."""
    day: int
    action: Action
    template: str | None = None
    task: str | None = None
    note: str | None = None


def expand(track: TrackBody) -> list[ScheduledStep]:
    """Every step of the track in order, the repeat unrolled."""
    out = [
        ScheduledStep(i + 1, s.day, s.action, s.template, s.task, s.note)
        for i, s in enumerate(track.steps)
    ]
    if track.repeat is not None:
        day = track.steps[-1].day + track.repeat.every_days
        turn = 0
        while day <= track.repeat.until_day:
            r = track.repeat.steps[turn % len(track.repeat.steps)]
            out.append(ScheduledStep(len(out) + 1, day, r.action, r.template, r.task, r.note))
            day += track.repeat.every_days
            turn += 1
    return out


# --- choosing a track -------------------------------------------------------------------


def _words(text: str | None) -> str:
    return " " + re.sub(r"[^a-z0-9]+", " ", (text or "").lower()).strip() + " "


def _has_word(text: str | None, keyword: str) -> bool:
    needle = _words(keyword)
    return needle.strip() != "" and needle in _words(text)


def matches(
    track: TrackBody, trigger: Trigger, lead: LeadProfile, returned_reason: str | None
) -> bool:
    w = track.when
    if w.triggers and trigger not in w.triggers:
        return False
    if w.returned_reasons and not any(_has_word(returned_reason, r) for r in w.returned_reasons):
        return False
    if w.personas and not any(_has_word(lead.job_title, p) for p in w.personas):
        return False
    if w.product_interests:
        wanted = {p.strip().lower() for p in w.product_interests}
        if not any(p.strip().lower() in wanted for p in lead.product_interest):
            return False
    if w.source_classes and lead.source_class not in w.source_classes:
        return False
    return not (
        w.countries and (lead.country or "").upper() not in {c.upper() for c in w.countries}
    )


def choose(
    tracks: list[TrackDef], trigger: Trigger, lead: LeadProfile, returned_reason: str | None
) -> TrackDef | None:
    """The active track of highest priority whose rules match (file order breaks ties).
    A lead deferred again after a recycle falls back to the deferred tracks."""
    ordered = sorted((t for t in tracks if t.active), key=lambda t: -t.priority)  # sorted is stable
    for candidate_trigger in (trigger, "deferred") if trigger == "deferred_again" else (trigger,):
        for track in ordered:
            if matches(track, candidate_trigger, lead, returned_reason):
                return track
    return None
