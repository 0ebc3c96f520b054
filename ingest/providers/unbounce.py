"""`unbounce`: Unbounce's form-submit webhook (landing pages, popups and sticky bars).

Format (Unbounce help center, "Using a Webhook",
https://documentation.unbounce.com/hc/en-us/articles/203510044-Using-a-Webhook): a POST of
form fields (`application/x-www-form-urlencoded`, also accepted as `multipart/form-data`):
`data.json` (a JSON object of form field id -> list of values, plus `ip_address`,
`page_uuid`, `variant`, `time_submitted`, `date_submitted`, `page_url`, `page_name`),
`data.xml` (the same as XML, ignored), and `page_id`, `page_name`, `page_url`, `variant`.

Authentication: Unbounce neither signs its webhooks nor sends a secret, so the secret is
part of the URL set in Unbounce: `...?token=<token>`. It is compared in constant time with
every current value of the source's `token` (two during a rotation).

External id: Unbounce sends no submission id. The id is derived from what identifies the
submission: a SHA-256 of the page id and the submitted data (`data.json`, which includes
the visitor's IP address and the date and minute of the submission), so a redelivered
webhook is recognised and stores nothing new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from ingest.providers.base import (
    BadPayload,
    Parsed,
    Provider,
    RawLead,
    Source,
    WebhookRequest,
    loads_json,
    require_signature,
)
from ingest.providers.form import form_fields

TOKEN_PARAM = "token"  # noqa: S105 - the name of the query parameter, not a secret
# Submission metadata Unbounce adds to data.json: it identifies the submission (see the
# external id) but is not lead data. The page's name and variant are kept as answers.
_METADATA = {
    "ip_address",
    "page_uuid",
    "time_submitted",
    "date_submitted",
    "page_url",
    "page_name",
    "variant",
}
_PAGE_ANSWERS = ("variant", "page_name")


class UnbounceProvider(Provider):
    name = "unbounce"
    required_secrets = ("token",)
    content_types = ("application/x-www-form-urlencoded", "multipart/form-data")

    def verify(self, request: WebhookRequest, source: Source) -> None:
        require_signature(
            request.query.get(TOKEN_PARAM), source.secret_values("token"), "token query parameter"
        )

    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        form = form_fields(request)
        data = _data_json(form.get("data.json"))
        page_id = form.get("page_id") or _first(data.get("page_uuid")) or ""
        fields: dict[str, str] = {}
        for key, values in data.items():
            if key in _METADATA:
                continue
            value = _joined(values)
            if value:
                fields[key] = value
        for key in _PAGE_ANSWERS:
            value = form.get(key) or _first(data.get(key))
            if value:
                fields.setdefault(key, value)
        return Parsed(leads=[RawLead(external_id=_submission_id(page_id, data), fields=fields)])


def _data_json(raw: str | None) -> dict[str, Any]:
    if raw is None:
        raise BadPayload("the data.json form field is missing")
    data = loads_json(raw, "data.json")
    if not isinstance(data, dict):
        raise BadPayload("data.json must be a JSON object of field names and lists of values")
    return data


def _submission_id(page_id: str, data: Mapping[str, Any]) -> str:
    """Stable over redeliveries: the same page and the same submitted data (keys sorted, so
    the order Unbounce serialises them in does not matter)."""
    canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(page_id.encode() + b"\n" + canonical).hexdigest()
    return f"unbounce:{digest}"


def _joined(values: Any) -> str:
    """Unbounce sends every value as a list, even single ones."""
    if isinstance(values, list):
        return ", ".join(s for s in (_scalar(v) for v in values) if s)
    return _scalar(values)


def _first(values: Any) -> str:
    if isinstance(values, list):
        return _scalar(values[0]) if values else ""
    return _scalar(values)


def _scalar(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()


PROVIDER = UnbounceProvider()
