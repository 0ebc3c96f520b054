"""Request bodies that routes read themselves, declared in the OpenAPI document.

Some routes parse their body by hand: to answer RFC 9457 problems naming each field in
their own words, to keep the raw bytes (an idempotency digest, a provider's signature), to
take each lead of a batch on its own, or to accept several media types. FastAPI then
documents no body at all, so "Try it out" offers no field and a generated client has
nothing to send. Such a route declares its body with `openapi_extra=json_body(...)` (or
`declared_body(...)`); the models it names join the document's components under their class
names, which must be unique across services (`component_collisions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"
_SCHEMAS_KEY = "x-leadfarm-body-schemas"
"""Where a declaration carries its models' schemas until the document is complete."""


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def declared_body(
    content: dict[str, dict[str, Any]],
    *,
    description: str,
    models: Iterable[type[BaseModel]] = (),
    required: bool = True,
) -> dict[str, Any]:
    """`openapi_extra` declaring a request body: `content` maps each media type to its
    OpenAPI media type object (refer to `models` with `schema_ref`)."""
    extra: dict[str, Any] = {
        "requestBody": {"required": required, "description": description, "content": content}
    }
    listed = list(models)
    if listed:
        _, top = models_json_schema(
            [(model, "validation") for model in listed], ref_template=REF_TEMPLATE
        )
        extra[_SCHEMAS_KEY] = top.get("$defs", {})
    return extra


def json_body(
    model: type[BaseModel], *, description: str, examples: dict[str, Any]
) -> dict[str, Any]:
    """`openapi_extra` declaring a JSON body of `model`; `examples` maps a name to a value."""
    return declared_body(
        {
            "application/json": {
                "schema": schema_ref(model),
                "examples": {name: {"value": value} for name, value in examples.items()},
            }
        },
        description=description,
        models=[model],
    )


def install_declared_bodies(app: FastAPI) -> None:
    """Complete `app`'s document with the schemas of the declared bodies' models."""
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        return add_declared_schemas(generate_openapi())

    app.openapi = openapi  # type: ignore[method-assign]


def add_declared_schemas(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            for name, schema in operation.pop(_SCHEMAS_KEY, {}).items():
                if schemas.setdefault(name, schema) != schema:
                    raise ValueError(
                        f"two different schemas are named {name!r} in the OpenAPI document; "
                        "rename one model"
                    )
    return doc


def component_collisions(doc: dict[str, Any]) -> list[str]:
    """Why the document's component names are not unique, if they are not: FastAPI names two
    models of one class name `<module>__<Name>`, and generators name models by their
    title, so two titles alike make one model of the two."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        if "__" in name:
            problems.append(f"{name}: a class name used by two models")
        title = schema.get("title", name)
        if title in seen:
            problems.append(f"{name}: title {title!r} is also {seen[title]}'s")
        seen.setdefault(title, name)
    return problems
