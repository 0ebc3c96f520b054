"""The committed OpenAPI document (contracts/openapi.json) tells clients the truth: component
names are unique across the five services, and every operation that takes a request body
declares it, with its media types and examples, also where the route parses it by hand.
(A client generated from it: tests/unit/contracts/test_openapi_client.py.)"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from contracts.schemagen import OPENAPI_PATH
from services.app import create_app
from services.openapi import add_declared_schemas, component_collisions
from tests.backends import ADMIN, EmbeddedBackend

DOCUMENT: dict[str, Any] = json.loads(OPENAPI_PATH.read_text())
WRITES = ("post", "put", "patch")
# Actions named by their path alone: they take no body.
BODILESS_ACTIONS = {
    ("post", "/ingest/v1/deliveries/{delivery_id}/retry"),
    ("post", "/qualifier/v1/definitions:reevaluate"),
    ("post", "/router/v1/leads/{lead_id}/accept"),
    ("post", "/router/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/retry"),
    ("post", "/router/v1/connectors/{connector_id}/deliveries/{delivery_id}/retry"),
}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
    ]


def test_component_names_are_unique_across_services() -> None:
    assert component_collisions(DOCUMENT) == []
    schemas = DOCUMENT["components"]["schemas"]
    assert {name for name, schema in schemas.items() if schema.get("title", name) != name} == set()


def test_a_clash_of_names_is_found() -> None:
    clashing = {
        "components": {
            "schemas": {
                "audit__schemas__ErasureIn": {"title": "ErasureIn"},
                "nurture__schemas__ErasureIn": {"title": "ErasureIn"},
            }
        }
    }
    assert len(component_collisions(clashing)) == 3
    declared = {
        "paths": {
            "/a": {"post": {"x-leadfarm-body-schemas": {"LeadIn": {"type": "object"}}}},
            "/b": {"post": {"x-leadfarm-body-schemas": {"LeadIn": {"type": "array"}}}},
        }
    }
    with pytest.raises(ValueError, match="two different schemas are named 'LeadIn'"):
        add_declared_schemas(declared)


def test_every_operation_that_takes_a_body_declares_it() -> None:
    undeclared = {
        (method, path)
        for method, path, operation in operations()
        if method in WRITES and "requestBody" not in operation
    }
    assert undeclared == BODILESS_ACTIONS


def test_the_hand_parsed_bodies_say_what_they_accept_with_examples() -> None:
    paths = DOCUMENT["paths"]
    lead = paths["/ingest/v1/leads"]["post"]["requestBody"]["content"]["application/json"]
    assert lead["schema"] == {"$ref": "#/components/schemas/LeadIn"}
    assert all("email" in e["value"] or "phone" in e["value"] for e in lead["examples"].values())
    batch = paths["/ingest/v1/leads:batch"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"] == {"$ref": "#/components/schemas/BatchIn"}
    items = DOCUMENT["components"]["schemas"]["BatchIn"]["properties"]["leads"]["items"]
    assert items == {"$ref": "#/components/schemas/LeadIn"}

    webhook = paths["/ingest/v1/webhooks/{name}"]["post"]["requestBody"]
    assert set(webhook["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    from ingest.providers import PROVIDERS

    for name in PROVIDERS:
        assert f"- `{name}` (" in webhook["description"], name
    assert "zapier" in webhook["content"]["application/json"]["examples"]
    assert "form" in webhook["content"]["application/x-www-form-urlencoded"]["examples"]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "zz1", path)


async def test_the_bodiless_actions_read_no_body(embedded: EmbeddedBackend) -> None:
    """What the document says of the actions is checked, not trusted: sent a body (with the
    admin key, which every route admits), none of them reads it."""
    app = create_app(embedded.runtime)
    read: list[str] = []
    current = ""

    async def noting_reads(scope: Scope, receive: Receive, send: Send) -> None:
        async def noted() -> Message:
            message = await receive()
            if message["type"] == "http.request" and message.get("body"):
                read.append(current)
            return message

        await app(scope, noted, send)

    transport = httpx.ASGITransport(app=noting_reads)
    async with httpx.AsyncClient(transport=transport, base_url="http://lf") as http:
        for method, path in sorted(BODILESS_ACTIONS):
            current = f"{method} {path}"
            response = await http.request(method, concrete(path), json={"note": "x"}, headers=ADMIN)
            assert response.status_code not in (401, 403), (current, response.text)
        # The probe sees a route that reads its body.
        current = "post /ingest/v1/leads"
        await http.post("/ingest/v1/leads", json={"email": "a@b.example"}, headers=ADMIN)
    assert read == ["post /ingest/v1/leads"]
