"""The event contracts: committed schemas are current, changes are additive, every event
type has a fixture payload that keeps parsing."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from contracts.envelope import Envelope
from contracts.events import (
    EVENT_TYPES,
    LeadReceived,
    UnknownEventType,
    make_envelope,
    parse_data,
    schema_uri,
)
from contracts.schemagen import SCHEMA_DIR, event_schemas, incompatibilities, stale_files
from contracts.topics import SERVICES, all_topics, dlq_for, topic_for

FIXTURES = Path(__file__).parents[2] / "fixtures" / "events"
REPO = Path(__file__).parents[3]
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_committed_schemas_and_asyncapi_are_current() -> None:
    stale = stale_files()
    assert not stale, f"run `leadfarm contracts generate`; stale: {stale}"


def test_every_event_type_has_a_fixture_that_parses() -> None:
    for event_type in EVENT_TYPES:
        path = FIXTURES / f"{event_type}.json"
        assert path.exists(), f"add a fixture payload for {event_type} at {path}"
        raw = json.loads(path.read_text())
        assert raw["dataschema"] == schema_uri(event_type), "fixtures say what is produced now"
        envelope = Envelope.model_validate(raw)
        assert envelope.type == event_type
        assert type(parse_data(envelope)) is EVENT_TYPES[event_type]


def test_dataschema_is_an_absolute_uri_and_the_id_of_the_committed_schema() -> None:
    for event_type in EVENT_TYPES:
        uri = urlsplit(schema_uri(event_type))
        assert (uri.scheme, uri.netloc) == ("https", "leadfarm.dev"), "CloudEvents: a URI"
        committed = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text())
        assert committed["$id"] == schema_uri(event_type)
    captured = LeadReceived(
        lead_id="l-1", delivery_id="d-1", source="s", provider="api", received_at=NOW
    )
    made = make_envelope(captured, time=NOW)
    assert made.dataschema == "https://leadfarm.dev/schemas/leadfarm.lead.received.v1.json"


def test_a_record_with_the_old_relative_dataschema_is_still_read() -> None:
    """Records said before dataschema was absolute are still in Kafka and in outboxes."""
    raw = json.loads((FIXTURES / "leadfarm.lead.captured.v1.json").read_text())
    raw["dataschema"] = "contracts/schemas/leadfarm.lead.captured.v1.json"
    envelope = Envelope.from_json(json.dumps(raw))
    assert envelope.dataschema == schema_uri("leadfarm.lead.captured.v1")
    assert type(parse_data(envelope)) is EVENT_TYPES["leadfarm.lead.captured.v1"]


def test_unknown_types_are_refused() -> None:
    envelope = Envelope.model_validate(
        json.loads((FIXTURES / "leadfarm.lead.captured.v1.json").read_text())
    ).model_copy(update={"type": "leadfarm.lead.teleported.v1"})
    with pytest.raises(UnknownEventType):
        parse_data(envelope)


OLD = {
    "type": "object",
    "properties": {
        "lead_id": {"type": "string"},
        "score": {"type": "integer"},
        "stage": {"enum": ["raw", "sales_qualified"]},
    },
    "required": ["lead_id"],
}


def with_changes(**changes: object) -> dict[str, object]:
    new: dict[str, object] = json.loads(json.dumps(OLD))
    new.update(changes)
    return new


def test_additive_changes_are_compatible() -> None:
    added = with_changes(
        properties={**OLD["properties"], "note": {"type": "string"}}  # type: ignore[dict-item]
    )
    assert incompatibilities(OLD, added) == []
    wider_enum = json.loads(json.dumps(OLD))
    wider_enum["properties"]["stage"]["enum"].append("basic_qualified")
    assert incompatibilities(OLD, wider_enum) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"properties": {"lead_id": {"type": "string"}, "stage": OLD["properties"]["stage"]}},  # type: ignore[index]
            "score: property removed",
        ),
        ({"required": ["lead_id", "score"]}, "score: became required"),
        (
            {"properties": {**OLD["properties"], "score": {"type": "string"}}},  # type: ignore[dict-item]
            "type changed",
        ),
        (
            {"properties": {**OLD["properties"], "stage": {"enum": ["raw"]}}},  # type: ignore[dict-item]
            "enum values removed",
        ),
    ],
)
def test_breaking_changes_are_named(change: dict[str, object], expected: str) -> None:
    problems = incompatibilities(OLD, with_changes(**change))
    assert any(expected in p for p in problems), problems


def committed_versions(path: Path) -> list[str]:
    """Every version of a schema file in the git history."""
    rel = path.relative_to(REPO)
    shas = subprocess.run(
        ["git", "-C", str(REPO), "log", "--format=%H", "--", str(rel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [
        subprocess.run(
            ["git", "-C", str(REPO), "show", f"{sha}:{rel}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for sha in shas
    ]


def test_no_schema_ever_committed_was_changed_incompatibly() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.fail("the contract history check needs the git checkout")
    current = event_schemas()
    for name, schema in current.items():
        for old_text in committed_versions(SCHEMA_DIR / name):
            problems = incompatibilities(json.loads(old_text), schema)
            assert not problems, (
                f"{name} changed incompatibly since a committed version: {problems}"
            )


def test_topic_catalogue() -> None:
    assert topic_for("router") == "leadfarm.router"
    assert dlq_for("leadfarm.router") == "leadfarm.router.dlq"
    assert len(all_topics("x")) == 2 * len(SERVICES)
    assert all(t.startswith("x.") for t in all_topics("x"))
