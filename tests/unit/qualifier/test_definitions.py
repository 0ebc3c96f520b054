"""Definitions files are validated at load, and every problem names its line."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from qualifier.definitions import DEFAULT_FILE, DefinitionsError, load_file, parse, version_of
from qualifier.definitions.model import FIT_CRITERIA, INTENT_CRITERIA
from qualifier.definitions.schema import DefinitionsFile

SHIPPED_TEXT = DEFAULT_FILE.read_text()


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def problems(text: str) -> list[str]:
    with pytest.raises(DefinitionsError) as caught:
        parse(text)
    return caught.value.lines()


def test_the_shipped_file_validates_and_is_versioned() -> None:
    definitions = load_file(DEFAULT_FILE)
    assert definitions.version == "2026.03-default-1"
    assert definitions.short_term_days == 90
    assert definitions.sales_requires == ("asked_to_be_contacted", "timeframe")
    assert "NO" in definitions.icp.countries  # Norway, not YAML's `no`
    assert sum(definitions.points.values()) == 100, "fit plus intent points add up to 100"


@pytest.mark.parametrize(
    ("original", "replacement", "expected"),
    [
        ("    company: 10", "    company: ten", "points.fit.company must be a number"),
        ("    company: 10", "    company: 2.5", "points.fit.company must be a whole number"),
        ("    company: 10", "    company: 120", "points.fit.company must be between 0 and 100"),
        (
            "  short_term_days: 90 ",
            "  short_term_days: soon ",
            "timeframe.short_term_days must be a number",
        ),
        (
            "requires: [asked_to_be_contacted, timeframe]",
            "requires: [asked, timeframe]",
            "stages.sales_qualified.requires.0 names an unknown value 'asked'",
        ),
        (
            "countries: [DE, AT",
            "countries: [Germany, AT",
            "ideal_customer_profile.countries.0 must be an ISO 3166-1 alpha-2 country code",
        ),
        (
            "  free_mail: true",
            "  free_mail: maybe",
            "disqualifiers.free_mail must be true or false",
        ),
        ("  free_mail: true", "  free_male: true", "disqualifiers.free_male is not a known key"),
        (
            "    - {min: 20, max: 5000}",
            "    - {min: 200, max: 50}",
            "ideal_customer_profile.employees.0.max must not be below min (200)",
        ),
        (
            "  without_timeframe: long",
            "  without_timeframe: later",
            "timeframe.without_timeframe must be short or long",
        ),
        (
            "    source_classes: [events]",
            "    source_classes: [trade_show]",
            "disqualifiers.badge_scan_without_interest.source_classes.0 names an unknown value "
            "'trade_show'",
        ),
    ],
)
def test_a_problem_names_its_line_and_key(original: str, replacement: str, expected: str) -> None:
    assert original in SHIPPED_TEXT, original
    text = SHIPPED_TEXT.replace(original, replacement, 1)
    line = line_of(text, replacement.strip())
    found = problems(text)
    assert found == [f"definitions.yaml line {line}: {expected}" + found[0].split(expected)[1]]


def test_every_problem_is_reported_at_once() -> None:
    text = SHIPPED_TEXT.replace("    company: 10", "    company: x").replace(
        "  no_contact: true", "  no_contact: 1"
    )
    found = problems(text)
    assert len(found) == 2
    assert found[0].startswith(f"definitions.yaml line {line_of(text, 'no_contact: 1')}:")
    assert found[1].startswith(f"definitions.yaml line {line_of(text, 'company: x')}:")


def test_a_version_is_required() -> None:
    text = SHIPPED_TEXT.replace('version: "2026.03-default-1"\n', "")
    assert any("version is required" in p for p in problems(text))
    assert problems("version: \n") == ["definitions.yaml line 1: version must be a text value"]


def test_yaml_syntax_errors_name_the_line() -> None:
    text = "version: v1\ntimeframe:\n  short_term_days: [90\n"
    (problem,) = problems(text)
    assert problem.startswith("definitions.yaml line 4: is not valid YAML")
    (problem,) = problems("version: v1\n\tpoints: 1\n")
    assert problem.startswith("definitions.yaml line 2: is not valid YAML")


def test_other_shapes_are_refused() -> None:
    assert problems("") == ["definitions.yaml line 1: is empty; it needs at least a version"]
    assert problems("- a\n- b\n") == [
        "definitions.yaml line 1: must be a mapping of keys to values"
    ]
    assert problems("version: v1\nversion: v2\n") == [
        "definitions.yaml line 2: version is given twice"
    ]
    assert problems("version: v1\n---\nversion: v2\n")[0].startswith(
        "definitions.yaml line 2: is not valid YAML"
    )


def test_anchors_cannot_multiply_the_work() -> None:
    text = "version: v1\nlifecycle:\n  target: &t {any_of: [company]}\n  suspect: *t\n"
    (problem,) = problems(text)
    assert "line 3: lifecycle.suspect reuses an anchor" in problem


def test_a_minimal_file_takes_the_documented_defaults() -> None:
    definitions = parse("version: minimal\n")
    assert definitions.target.any_of == ("company", "business_email")
    assert definitions.sales_requires == ("asked_to_be_contacted", "timeframe")
    assert definitions.short_term_days == 90
    assert definitions.points == {}
    assert definitions.disqualifiers.test_lead
    assert definitions.disqualifiers.no_contact
    assert not definitions.disqualifiers.free_mail
    assert definitions.disqualifiers.badge_scan_source_classes == ()


def test_a_file_that_does_not_validate_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text("version: ours\npoints:\n  fit:\n    company: lots\n")
    with pytest.raises(
        DefinitionsError, match=r"^ours.yaml line 4: points.fit.company must be a number$"
    ):
        load_file(path)


def test_yaml_nested_thousands_of_levels_deep_is_a_problem_not_a_stack_overflow() -> None:
    """PyYAML composes recursively: 3,000 levels overflowed the stack (a 500 on PUT)."""
    deep = "version: x\nrules: " + "[" * 3000 + "]" * 3000 + "\n"
    assert problems(deep) == [
        "definitions.yaml line 2: is not valid YAML: nests deeper than 32 levels"
    ]
    assert version_of(deep) is None


def test_a_tagged_value_that_is_not_what_its_tag_says_is_a_problem_not_a_crash() -> None:
    """`!!int abc` raised a ValueError out of the hand-written checker (a 500 on PUT)."""
    text = "version: v1\npoints:\n  fit:\n    company: !!int abc\n"
    assert problems(text) == ["definitions.yaml line 4: points.fit.company must be a number"]


def documented_keys() -> list[str]:
    doc = (Path(__file__).parents[3] / "docs" / "qualification.md").read_text()
    table = doc.split("### Keys", 1)[1].split("\n\n", 2)[1]
    return [row.split("`")[1] for row in table.splitlines() if row.startswith("| `")]


def model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(prefix + name)
        nested = next(
            (a for a in (field.annotation, *get_args(field.annotation)) if isinstance(a, type)),
            None,
        )
        if nested is not None and issubclass(nested, BaseModel):
            keys |= model_keys(nested, f"{prefix}{name}.")
    return keys


def test_the_documented_keys_are_the_keys_the_file_model_accepts() -> None:
    documented = set(documented_keys())
    accepted = model_keys(DefinitionsFile)
    criteria = {
        "points.fit.<criterion>": FIT_CRITERIA,
        "points.intent.<criterion>": tuple(c for c in INTENT_CRITERIA if c != "engagement"),
    }
    for key, names in criteria.items():
        documented.remove(key)
        documented |= {key.replace("<criterion>", name) for name in names}
    assert documented <= accepted, documented - accepted
    undocumented = {
        key
        for key in accepted - documented
        if not any(d.startswith(key + ".") or key.startswith(d + ".") for d in documented)
    }
    assert not undocumented, undocumented
