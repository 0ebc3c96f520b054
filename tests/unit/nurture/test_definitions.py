"""The tracks file: the shipped one loads, schedules expand, tracks are chosen by rules,
and a bad file is refused with the problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.events import LeadProfile
from nurture.definitions import (
    DEFAULT_FILE,
    DefinitionsError,
    TrackBody,
    choose,
    expand,
    load_file,
)

SHIPPED = load_file(DEFAULT_FILE)


def lead(**fields: object) -> LeadProfile:
    return LeadProfile.model_validate({"source": "test", **fields})


def test_the_shipped_long_term_track_runs_three_years() -> None:
    track = next(t for t in SHIPPED.tracks if t.id == "long-term-default")
    steps = expand(track)
    assert [s.day for s in steps] == [0, 3, 14, 30, 60, 90, *range(180, 1095 + 1, 90)]
    assert [s.number for s in steps] == list(range(1, 18))
    assert {s.action for s in steps} == {"email", "task"}
    assert [s.template for s in steps[6:8]] == ["quarterly-news", "check-in"], "repeat in turn"


@pytest.mark.parametrize(
    ("trigger", "profile", "reason", "expected"),
    [
        ("returned", {}, "cadence exhausted without a connection", "returned-unreached"),
        ("returned", {}, "rejected: not now, budget next year", "returned-not-now"),
        ("deferred", {"job_title": "VP Sales"}, None, "long-term-executives"),
        ("deferred", {"job_title": "Chief Revenue Officer"}, None, "long-term-executives"),
        ("deferred", {"job_title": "Sales Development Rep"}, None, "long-term-default"),
        ("deferred", {}, None, "long-term-default"),
        ("deferred_again", {"job_title": "CEO"}, None, "warmed-not-ready"),
    ],
)
def test_tracks_are_chosen_by_their_rules(
    trigger: str, profile: dict[str, object], reason: str | None, expected: str
) -> None:
    chosen = choose(SHIPPED.tracks, trigger, lead(**profile), reason)  # type: ignore[arg-type]
    assert chosen is not None
    assert chosen.id == expected


def test_rules_on_product_interest_source_and_country_and_inactive_tracks() -> None:
    body = {
        "name": "Scoring buyers in DE",
        "priority": 50,
        "when": {
            "product_interests": ["Lead Scoring"],
            "source_classes": ["events"],
            "countries": ["de"],
        },
        "steps": [{"day": 0, "action": "wait"}],
    }
    special = TrackBody.model_validate(body)
    tracks = [special.model_copy(update={"id": "special"}), *SHIPPED.tracks]
    fits = lead(product_interest=["lead scoring"], source_class="events", country="DE")
    assert choose(tracks, "deferred", fits, None).id == "special"  # type: ignore[arg-type, union-attr]
    other = lead(product_interest=["crm"], source_class="events", country="DE")
    assert choose(tracks, "deferred", other, None).id == "long-term-default"  # type: ignore[arg-type, union-attr]
    inactive = [special.model_copy(update={"id": "special", "active": False}), *SHIPPED.tracks]
    assert choose(inactive, "deferred", fits, None).id == "long-term-default"  # type: ignore[arg-type, union-attr]


REPEAT = (
    "until_day: 1095\n      steps:\n        - {action: email, template: quarterly-news}\n"
    "        - {action: email, template: check-in}\n"
)
SHORT_REPEAT = "until_day: 60\n      steps:\n        - {action: email, template: quarterly-news}\n"
WELCOME = "{{ lead.first_name or 'there' }},\n\n      thank"
BAD_WELCOME = "{{ lead.first_name or }},\n\n      thank"
DAY_3 = "{day: 3, action: email, template: resources}"
OUT_OF_ORDER = "{day: 1, action: wait}\n      - {day: 0, action: wait}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("template: welcome}", "}"), "needs a template"),
        (("template: welcome}", "template: nowhere}"), "no template 'nowhere'"),
        ((DAY_3, OUT_OF_ORDER), "in order of day"),
        (("timezone: Europe/Berlin", "timezone: Mars/Olympus"), "unknown time zone"),
        ((REPEAT, SHORT_REPEAT), "until_day must be after"),
        ((WELCOME, BAD_WELCOME), "templates.welcome.text"),
    ],
)
def test_a_bad_file_is_refused_naming_the_problem(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = DEFAULT_FILE.read_text()
    assert change[0] in text, change[0]
    bad = tmp_path / "tracks.yaml"
    bad.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(DefinitionsError, match=message):
        load_file(bad)


def test_a_track_that_expands_too_far_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 500"):
        TrackBody.model_validate(
            {
                "name": "daily forever",
                "steps": [{"day": 0, "action": "wait"}],
                "repeat": {"every_days": 1, "until_day": 3000, "steps": [{"action": "wait"}]},
            }
        )
