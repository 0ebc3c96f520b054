"""The committed AsyncAPI document is valid AsyncAPI 3.0.0: checked against the official
JSON Schema of the specification (vendored, see tests/fixtures/asyncapi/README.md), and
every reference in it resolves."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from contracts.envelope import CONTENT_TYPE
from contracts.schemagen import ASYNCAPI_PATH, CONTRACTS_DIR

SCHEMA_PATH = Path(__file__).parents[2] / "fixtures" / "asyncapi" / "asyncapi-3.0.0.schema.json"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    return Draft7Validator(schema)


@pytest.fixture
def document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ASYNCAPI_PATH.read_text())
    return doc


def problems(validator: Draft7Validator, doc: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(doc)
    ]


def test_the_committed_document_is_valid_asyncapi_3(
    validator: Draft7Validator, document: dict[str, Any]
) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert problems(validator, document) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("operations", "ingest_publish", "action"), "publish"),  # AsyncAPI 2's word
        (("channels", "ingest", "address"), 5),
        (("components", "messages", "leadfarm_lead_captured_v1", "bindings"), {"kafka": 1}),
        (("components", "messages", "leadfarm_lead_captured_v1", "headers"), "content-type"),
    ],
)
def test_the_schema_refuses_a_broken_document(
    validator: Draft7Validator, document: dict[str, Any], path: tuple[str, ...], value: object
) -> None:
    """So the test above cannot pass by validating nothing."""
    broken = copy.deepcopy(document)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert problems(validator, broken)


def refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for ref in refs(document):
        if ref.startswith("#/"):
            node: Any = document
            for part in ref[2:].split("/"):
                assert part in node, f"{ref} does not resolve"
                node = node[part]
        else:
            assert (CONTRACTS_DIR / ref).is_file(), f"{ref} names no committed schema"


def test_every_event_message_declares_the_structured_mode_header(
    document: dict[str, Any],
) -> None:
    messages = document["components"]["messages"]
    events = [m for name, m in messages.items() if name.startswith("leadfarm_")]
    assert events
    for message in events:
        header = message["headers"]["properties"]["content-type"]
        assert header["const"] == CONTENT_TYPE
        assert message["headers"]["required"] == ["content-type"]
