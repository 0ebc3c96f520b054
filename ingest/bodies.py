"""The request bodies ingest's routes read by hand, described for the OpenAPI document: the
generic API's lead and batch, and a webhook's body in every provider's format."""

from __future__ import annotations

import sys
from typing import Any

from ingest.providers import PROVIDERS
from ingest.schemas import BatchIn, LeadIn
from services.openapi import declared_body, json_body, schema_ref

# The bodies below are read by hand (the raw bytes make the idempotency digest; each lead of a
# batch is checked on its own), so the document is told what they are.
LEAD_EXAMPLES: dict[str, Any] = {
    "a form fill": {
        "email": "dana@acme.example",
        "first_name": "Dana",
        "last_name": "Scully",
        "company": "Acme",
        "country": "DE",
        "timeframe_days": 30,
        "asked_to_be_contacted": True,
        "source": "website",
        "utm": {"utm_source": "google", "utm_campaign": "spring"},
    },
    "a phone number only": {"phone": "+49 30 1234567", "source": "trade-show"},
}
LEAD_BODY = json_body(
    LeadIn,
    description="The lead. Unknown fields are refused; an email or a phone is required.",
    examples=LEAD_EXAMPLES,
)
BATCH_BODY = declared_body(
    {
        "application/json": {
            "schema": schema_ref(BatchIn),
            "examples": {"two leads": {"value": {"leads": list(LEAD_EXAMPLES.values())}}},
        }
    },
    description="Up to 1,000 leads, each as for POST /ingest/v1/leads.",
    models=[BatchIn, LeadIn],
)


WEBHOOK_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Stored (or nothing to store): acknowledged the way the provider expects",
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"status": {"type": "string"}}},
                "example": {"status": "ok"},
            },
            "text/html": {"schema": {"type": "string", "description": "form: a thank-you page"}},
        },
    },
    303: {"description": "form: stored; the browser goes on to the source's redirect_url"},
}


def webhook_body() -> dict[str, Any]:
    """The webhook's body in every provider's format (the source's provider decides which)."""
    examples: dict[str, dict[str, Any]] = {}
    lines = []
    for provider in PROVIDERS.values():
        summary = " ".join(
            (sys.modules[type(provider).__module__].__doc__ or "").split("\n\n")[0].split()
        )
        lines.append(
            f"- `{provider.name}` ({', '.join(provider.content_types)}): "
            f"{summary.removeprefix(f'`{provider.name}`: ')} See docs/sources/{provider.name}.md."
        )
        if provider.example is not None:
            examples.setdefault(provider.content_types[0], {})[provider.name] = {
                "summary": provider.name,
                "value": provider.example,
            }
    fields = {"type": "object", "additionalProperties": {"type": "string"}}
    schemas: dict[str, dict[str, Any]] = {
        # HubSpot's app webhooks post an array of events; documented as an object all the
        # same, since client generators cannot send a union of an array and an object.
        "application/json": {
            "type": "object",
            "additionalProperties": True,
            "description": "The provider's JSON (for hubspot's app webhooks, an array)",
        },
        "application/x-www-form-urlencoded": fields,
        "multipart/form-data": fields,
    }
    media_types = sorted({m for p in PROVIDERS.values() for m in p.content_types})
    body = declared_body(
        {
            media: {"schema": schemas[media]}
            | ({"examples": examples[media]} if media in examples else {})
            for media in media_types
        },
        description=(
            "The delivery exactly as the source's provider posts it, signed or authenticated "
            "the provider's way; another content type than the provider's is refused (415). "
            "The providers:\n\n" + "\n".join(lines)
        ),
    )
    token = {
        "name": "token",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "unbounce: the source's token (Unbounce neither signs nor sends a secret)",
    }
    return body | {"parameters": [token]}
