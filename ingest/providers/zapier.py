"""`zapier`: a Zap's "Webhooks by Zapier" POST action sending the lead as JSON (or form
fields), authenticated with a token sent as `Authorization: Bearer <token>`.

Field names are whatever the Zap sends; well-known ones map by themselves and the source's
`field_map` names the rest. An `id` field, when the Zap sends one, is the external id that
makes a repeated delivery a no-op.
"""

from __future__ import annotations

from typing import Any

from ingest.providers.base import (
    BadPayload,
    Parsed,
    Provider,
    RawLead,
    Source,
    WebhookRequest,
    json_body,
    require_signature,
)
from ingest.providers.form import form_fields


class BearerTokenProvider(Provider):
    """A provider authenticated by a shared token in `Authorization: Bearer` (also used by
    gravity-forms)."""

    required_secrets = ("token",)
    content_types = ("application/json", "application/x-www-form-urlencoded")
    id_fields: tuple[str, ...] = ("id",)

    def verify(self, request: WebhookRequest, source: Source) -> None:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else None
        require_signature(presented, source.secret_values("token"), "bearer token")

    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        if request.content_type == "application/json":
            body = json_body(request)
            items = body if isinstance(body, list) else [body]
        else:
            items = [form_fields(request)]
        leads = []
        for item in items:
            if not isinstance(item, dict):
                raise BadPayload("each lead must be a JSON object of field names and values")
            fields = {str(k): _text(v) for k, v in item.items() if v is not None}
            external = next((fields.pop(k) for k in self.id_fields if fields.get(k)), None)
            leads.append(RawLead(external_id=external, fields=fields))
        return Parsed(leads=leads)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number sent as 4915112345678.0
    return str(value)


class ZapierProvider(BearerTokenProvider):
    name = "zapier"
    example = {
        "id": "zap-run-8841",
        "email": "dana@acme.example",
        "first_name": "Dana",
        "last_name": "Scully",
        "company": "Acme",
        "country": "DE",
    }


PROVIDER = ZapierProvider()
