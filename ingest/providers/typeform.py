"""`typeform`: Typeform's `form_response` webhook.

Authentication (https://www.typeform.com/developers/webhooks/secure-your-webhooks/): the
webhook's secret keys an HMAC-SHA256 of the raw body; Typeform sends it base64-encoded as
`Typeform-Signature: sha256=<digest>`. Every current value of the source's `secret` is
tried, so a rotation never drops a delivery.

Payload (https://www.typeform.com/developers/webhooks/example-payload/): `event_id`,
`event_type` and `form_response` with `token` (the response's id), `definition.fields`
(id, ref, type, title), `answers` (each names its `field` {id, ref, type} and carries a
value under its `type`: text, email, phone_number, number, boolean, choice{label},
choices{labels}, date, url, file_url, payment, ...), `hidden` fields, `calculated.score`
and `variables`.

The external id is `form_response.token`: Typeform's id of the response, the same in every
redelivery (and in every webhook of the form), so a repeated delivery is a no-op.

Each answer gets a field name the shared mapper understands: the field's `ref` or title
when the source's `field_map` names it, a `ref` that is itself a known lead field name
(`email`, `phone`, `company`, ...), then the answer type (`email` -> "email",
`phone_number` -> "phone"), then a readable `ref`, then the question's title. Refs that
Typeform generated (UUIDs, ULIDs) are not readable names and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ingest.mapping import ALIASES, CLICK_ID_KEYS, UTM_KEYS, key_of
from ingest.providers.base import (
    BadPayload,
    Parsed,
    Provider,
    RawLead,
    Source,
    Unauthorized,
    WebhookRequest,
    hmac_b64,
    json_body,
    matches_any,
)

SIGNATURE_HEADER = "typeform-signature"
SIGNATURE_PREFIX = "sha256="
RESPONSE_EVENT = "form_response"

_BY_TYPE = {"email": "email", "phone_number": "phone"}
# Refs Typeform generates: UUIDs ("9a489f17-8765-494b-933e-3624c645bd0c") and ULIDs
# ("01H531GWT0DN41H4C16PFP05NS").
_GENERATED_REF = re.compile(
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9A-HJKMNP-TV-Z]{26})$",
    re.IGNORECASE,
)


class TypeformProvider(Provider):
    name = "typeform"
    required_secrets = ("secret",)
    content_types = ("application/json",)

    def verify(self, request: WebhookRequest, source: Source) -> None:
        header = (request.header(SIGNATURE_HEADER) or "").strip()
        if not header:
            raise Unauthorized("the Typeform-Signature header is missing")
        if not header.startswith(SIGNATURE_PREFIX):
            raise Unauthorized("the Typeform-Signature header is not sha256=<base64 digest>")
        expected = [hmac_b64(secret, request.body) for secret in source.secret_values("secret")]
        if not matches_any(header.removeprefix(SIGNATURE_PREFIX), expected):
            raise Unauthorized("the Typeform-Signature does not match the body")

    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        body = json_body(request)
        if not isinstance(body, dict):
            raise BadPayload("the body must be a JSON object with event_type and form_response")
        event_type = body.get("event_type", RESPONSE_EVENT)
        if event_type != RESPONSE_EVENT:
            # e.g. form_response_partial: acknowledged, not a lead (the completed response
            # arrives as its own form_response event).
            return Parsed()
        response = body.get("form_response")
        if not isinstance(response, dict):
            raise BadPayload("form_response is missing or not an object")
        answers = response.get("answers", [])
        if not isinstance(answers, list):
            raise BadPayload("form_response.answers must be a list")
        token = response.get("token") or body.get("event_id")
        field_map = source.settings.get("field_map") or {}
        fields = _answer_fields(answers, _definitions(response), field_map)
        utm, click_ids = _hidden(response.get("hidden"), fields)
        _extras(response, fields)
        return Parsed(
            leads=[
                RawLead(
                    external_id=str(token) if token else None,
                    fields=fields,
                    utm=utm,
                    click_ids=click_ids,
                )
            ]
        )


def _definitions(response: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The form's fields by id (titles live only here, not in the answers)."""
    definition = response.get("definition")
    fields = definition.get("fields") if isinstance(definition, dict) else None
    if not isinstance(fields, list):
        return {}
    return {str(f["id"]): f for f in fields if isinstance(f, dict) and f.get("id") is not None}


def _answer_fields(
    answers: list[Any],
    definitions: Mapping[str, Mapping[str, Any]],
    field_map: Mapping[str, str],
) -> dict[str, str]:
    mapped = {key_of(k) for k in field_map}
    fields: dict[str, str] = {}
    for answer in answers:
        if not isinstance(answer, dict):
            raise BadPayload("each answer must be an object")
        field = answer.get("field")
        if not isinstance(field, dict):
            raise BadPayload("an answer has no field")
        value = _answer_value(answer)
        if value is None:
            continue
        field_id = str(field.get("id") or "")
        definition = definitions.get(field_id, {})
        ref = _str(field.get("ref") or definition.get("ref"))
        title = _str(definition.get("title"))
        kind = _str(answer.get("type")) or _str(field.get("type"))
        name = _field_name(ref, title, kind, field_id, mapped)
        if name in fields:  # two questions with the same name: keep both
            name = title if title and title not in fields else f"{name} ({field_id})"
        fields[name] = value
    return fields


def _field_name(ref: str, title: str, kind: str, field_id: str, mapped: set[str]) -> str:
    if ref and key_of(ref) in mapped:
        return ref
    if title and key_of(title) in mapped:
        return title
    if ref and (key_of(ref) in ALIASES or key_of(ref) in UTM_KEYS + CLICK_ID_KEYS):
        return ref
    if kind in _BY_TYPE:
        return _BY_TYPE[kind]
    if ref and not _GENERATED_REF.match(ref):
        return ref
    return title or ref or field_id


def _answer_value(answer: Mapping[str, Any]) -> str | None:
    """The answer as text: the value sits under the key its `type` names."""
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) else None
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _choice_text(value)
    if isinstance(value, list):
        return ", ".join(_str(v) for v in value if v is not None) or None
    return None


def _choice_text(value: Mapping[str, Any]) -> str | None:
    """choice {label, other}, choices {labels, other}, payment {amount, ...}."""
    parts: list[str] = []
    if isinstance(value.get("label"), str):
        parts.append(value["label"])
    labels = value.get("labels")
    if isinstance(labels, list):
        parts.extend(_str(label) for label in labels if label is not None)
    if isinstance(value.get("other"), str):
        parts.append(value["other"])
    if not parts and "amount" in value:
        parts.append(_str(value["amount"]))
    return ", ".join(p for p in parts if p) or None


def _hidden(hidden: Any, fields: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Hidden fields: utm_* go to the UTM parameters, click ids (gclid, fbclid, ...) to the
    click ids, the rest are fields like any other."""
    utm: dict[str, str] = {}
    click_ids: dict[str, str] = {}
    if not isinstance(hidden, dict):
        return utm, click_ids
    for key, raw in hidden.items():
        value = _str(raw)
        if not value:
            continue
        normal = key_of(str(key))
        if normal in UTM_KEYS:
            utm[normal] = value
        elif normal in CLICK_ID_KEYS:
            click_ids[normal] = value
        else:
            fields.setdefault(str(key), value)
    return utm, click_ids


def _extras(response: Mapping[str, Any], fields: dict[str, str]) -> None:
    """The score and variables are kept as answers (prefixed so that a variable called
    `name` is never taken for the person's name)."""
    calculated = response.get("calculated")
    if isinstance(calculated, dict) and isinstance(calculated.get("score"), (int, float)):
        fields.setdefault("typeform_score", _number(calculated["score"]))
    variables = response.get("variables")
    if not isinstance(variables, list):
        return
    for variable in variables:
        if isinstance(variable, dict) and isinstance(variable.get("key"), str):
            value = _answer_value(variable)
            if value is not None:
                fields.setdefault(f"typeform_variable_{variable['key']}", value)


def _number(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()


PROVIDER = TypeformProvider()
