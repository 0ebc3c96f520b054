"""Generates contracts/schemas/*.json and contracts/asyncapi.json from the event models, and
checks that a schema change is additive (`leadfarm contracts generate` / `... check`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.envelope import CONTENT_TYPE, CONTENT_TYPE_HEADER, SCHEMA_BASE_URI, Envelope
from contracts.events import EVENT_TYPES, schema_uri
from contracts.topics import SERVICES, dlq_for, topic_for

CONTRACTS_DIR = Path(__file__).parent
SCHEMA_DIR = CONTRACTS_DIR / "schemas"
ASYNCAPI_PATH = CONTRACTS_DIR / "asyncapi.json"
OPENAPI_PATH = CONTRACTS_DIR / "openapi.json"


def event_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for the envelope and every event type's data."""
    out = {"envelope.json": Envelope.model_json_schema()}
    for event_type, model in sorted(EVENT_TYPES.items()):
        schema = model.model_json_schema()
        schema["$id"] = schema_uri(event_type)
        schema["x-leadfarm-service"] = model.SERVICE
        out[f"{event_type}.json"] = schema
    return out


KAFKA_MESSAGE_BINDING: dict[str, Any] = {
    "kafka": {"key": {"type": "string", "description": "lead id"}, "bindingVersion": "0.5.0"}
}
EVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": [CONTENT_TYPE_HEADER],
    "properties": {
        CONTENT_TYPE_HEADER: {
            "type": "string",
            "const": CONTENT_TYPE,
            "description": "Structured content mode (CloudEvents Kafka protocol binding, 3.2).",
        }
    },
}
DEAD_LETTER_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": [
        "x-leadfarm-error",
        "x-leadfarm-consumer",
        "x-leadfarm-attempts",
        "x-leadfarm-original-topic",
        "x-leadfarm-original-partition",
        "x-leadfarm-original-offset",
    ],
    "properties": {
        CONTENT_TYPE_HEADER: {"type": "string", "description": "The original record's, if any."},
        "x-leadfarm-error": {"type": "string", "description": "Why the consumer gave up."},
        "x-leadfarm-consumer": {"type": "string", "description": "The consumer group."},
        "x-leadfarm-attempts": {"type": "string", "description": "Attempts made (decimal)."},
        "x-leadfarm-original-topic": {"type": "string"},
        "x-leadfarm-original-partition": {"type": "string", "description": "Decimal."},
        "x-leadfarm-original-offset": {"type": "string", "description": "Decimal."},
    },
}


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document: one channel per topic, one message per event type."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, model in sorted(EVENT_TYPES.items()):
        name = event_type.replace(".", "_")
        messages[name] = {
            "name": event_type,
            "title": event_type,
            "summary": (model.__doc__ or event_type).strip().splitlines()[0],
            "contentType": CONTENT_TYPE,
            "payload": {
                "allOf": [
                    {"$ref": "schemas/envelope.json"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": event_type},
                            "data": {"$ref": f"schemas/{event_type}.json"},
                        },
                    },
                ]
            },
            "headers": EVENT_HEADERS,
            "bindings": KAFKA_MESSAGE_BINDING,
        }
    messages["dead_letter"] = {
        "name": "dead_letter",
        "title": "A dead letter",
        "summary": "A record a consumer could not handle, as it was, with why.",
        "description": (
            "The value and key are the original record's; the headers are the original "
            "record's (so an event keeps its content-type) plus the x-leadfarm-* headers."
        ),
        "headers": DEAD_LETTER_HEADERS,
        "payload": {"description": "The original record's value, whatever it was."},
        "bindings": KAFKA_MESSAGE_BINDING,
    }
    for service in SERVICES:
        topic = topic_for(service)
        service_messages = {
            t.replace(".", "_"): {"$ref": f"#/components/messages/{t.replace('.', '_')}"}
            for t, m in sorted(EVENT_TYPES.items())
            if service == m.SERVICE
        }
        channels[service] = {
            "address": topic,
            "description": f"Events said by {service}, keyed by lead id.",
            "messages": service_messages,
        }
        channels[f"{service}_dlq"] = {
            "address": dlq_for(topic),
            "description": (
                f"Messages from {topic} that a consumer could not handle after its retries, "
                "with headers x-leadfarm-error, x-leadfarm-consumer and the original "
                "topic, partition and offset."
            ),
            "messages": {"dead_letter": {"$ref": "#/components/messages/dead_letter"}},
        }
        operations[f"{service}_publish"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{service}"},
            "messages": [{"$ref": f"#/channels/{service}/messages/{k}"} for k in service_messages],
        }
        operations[f"{service}_dead_letter"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{service}_dlq"},
            "messages": [{"$ref": f"#/channels/{service}_dlq/messages/dead_letter"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Leadfarm events",
            "version": "1",
            "description": (
                "CloudEvents 1.0 in structured mode (the Kafka record value is the whole "
                f"envelope as JSON, the record header `{CONTENT_TYPE_HEADER}` is "
                f"`{CONTENT_TYPE}`), keyed by lead id. `dataschema` is "
                f"`{SCHEMA_BASE_URI}<type>.json`, the `$id` of the committed "
                "contracts/schemas/<type>.json. Topic names carry a namespace, "
                "`leadfarm` by default."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def openapi_document() -> dict[str, Any]:
    """The HTTP API of all five services (the paths are the same embedded or in the
    cluster). Built from the app factory without starting anything."""
    from services.app import create_app
    from services.openapi import component_collisions
    from services.runtime import embedded_runtime
    from services.settings import Settings

    unused = "sqlite+aiosqlite:////nonexistent/leadfarm-openapi.db"  # never connected to
    app = create_app(embedded_runtime(Settings(database_url=unused)))
    doc = app.openapi()
    doc["info"]["title"] = "Leadfarm"
    collisions = component_collisions(doc)
    if collisions:
        raise ValueError(
            "component names must be unique across services (rename a model):\n  "
            + "\n  ".join(collisions)
        )
    return doc


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def generated_files() -> dict[Path, str]:
    files = {SCHEMA_DIR / name: render(s) for name, s in event_schemas().items()}
    files[ASYNCAPI_PATH] = render(asyncapi_document())
    files[OPENAPI_PATH] = render(openapi_document())
    return files


def stale_files() -> list[Path]:
    """Committed files that differ from what the models generate now."""
    return [
        path
        for path, text in generated_files().items()
        if not path.exists() or path.read_text() != text
    ]


def incompatibilities(old: Any, new: Any, where: str = "$") -> list[str]:
    """Why `new` cannot read everything `old` allowed; empty when the change is additive.

    Rules: no property removed, no property newly required, no type or format changed,
    enums and literals may only grow. `$defs` are compared by name.
    """
    problems: list[str] = []
    if isinstance(old, dict) and isinstance(new, dict):
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        for name, schema in old_props.items():
            if name not in new_props:
                problems.append(f"{where}.{name}: property removed")
            else:
                problems += incompatibilities(schema, new_props[name], f"{where}.{name}")
        newly_required = set(new.get("required", [])) - set(old.get("required", []))
        for name in sorted(newly_required):
            problems.append(f"{where}.{name}: became required")
        for key in ("type", "format", "$ref", "const"):
            if key in old and old.get(key) != new.get(key):
                problems.append(f"{where}: {key} changed from {old[key]!r} to {new.get(key)!r}")
        if "enum" in old:
            lost = [v for v in old["enum"] if v not in new.get("enum", [])]
            if lost:
                problems.append(f"{where}: enum values removed: {lost}")
        for key in ("anyOf", "items", "additionalProperties", "$defs"):
            if key in old:
                problems += _compare_children(old[key], new.get(key), f"{where}.{key}")
    return problems


def _compare_children(old: Any, new: Any, where: str) -> list[str]:
    if new is None:
        return [f"{where}: removed"]
    if isinstance(old, list) and isinstance(new, list):
        # anyOf may gain branches; every old branch must still be there.
        missing = [o for o in old if not any(not incompatibilities(o, n) for n in new)]
        return [f"{where}: alternative {m!r} removed" for m in missing]
    if isinstance(old, dict) and isinstance(new, dict) and where.endswith("$defs"):
        out: list[str] = []
        for name, schema in old.items():
            if name not in new:
                out.append(f"{where}.{name}: definition removed")
            else:
                out += incompatibilities(schema, new[name], f"{where}.{name}")
        return out
    return incompatibilities(old, new, where)


def write_all() -> list[Path]:
    """Write the generated files, refusing a change that is not additive."""
    problems = []
    for path, text in generated_files().items():
        if path.exists() and path.parent == SCHEMA_DIR:
            problems += [
                f"{path.name}: {p}"
                for p in incompatibilities(json.loads(path.read_text()), json.loads(text))
            ]
    if problems:
        raise SystemExit(
            "refusing incompatible schema changes (add a new event version with an "
            "upcaster instead):\n  " + "\n  ".join(problems)
        )
    written = []
    SCHEMA_DIR.mkdir(exist_ok=True)
    for path, text in generated_files().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written
