"""`webflow`: Webflow form submissions (the `form_submission` webhook trigger).

Webflow posts `{"triggerType": "form_submission", "payload": {"name": <form>, "siteId": ..,
"data": {<field name>: <answer>, ..}, "submittedAt": .., "id": <submission id>, ..}}`. The
answers are mapped by field name; the submission id is the external id, so Webflow's retries
are no-ops. Other trigger types are acknowledged and ignored.

Requests are signed: `x-webflow-signature` is the hex HMAC-SHA256 of
`<x-webflow-timestamp>:<raw body>`, keyed with the OAuth app's client secret, or with the
webhook's own `secretKey` for a webhook created with a site token. Webhooks created in the
Webflow dashboard are not signed, so they cannot be used. Requests older than five minutes
are refused. See https://developers.webflow.com/data/docs/working-with-webhooks
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ingest.providers.base import (
    BadPayload,
    Parsed,
    Provider,
    RawLead,
    ReplayGuard,
    Source,
    Unauthorized,
    WebhookRequest,
    hmac_hex,
    json_body,
    matches_any,
    max_clock_skew_s,
    require_fresh,
)

FORM_SUBMISSION = "form_submission"

# Webflow names a second field of the same kind on a page "Email 2", "Name 3", ...
_NUMBERED = re.compile(r"^(?P<base>.*?\D)[\s_-]*\d{1,2}$")


class WebflowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field_map: dict[str, str] = Field(
        default_factory=dict,
        description="Webflow form field name -> lead field, e.g. {'Work address': 'email'}",
    )
    max_clock_skew_s: int = Field(
        300, ge=30, le=900, description="How old (or early) x-webflow-timestamp may be"
    )


class WebflowProvider(Provider):
    name = "webflow"
    required_secrets = ("secret",)
    content_types = ("application/json",)
    settings_model = WebflowSettings
    example = {
        "triggerType": "form_submission",
        "payload": {
            "name": "Contact us",
            "siteId": "65427cf400e02b306eaa049c",
            "data": {"Name": "Dana Scully", "Email": "dana@acme.example", "Company": "Acme"},
            "submittedAt": "2026-01-20T09:30:00.000Z",
            "id": "6321ca84df3949bfc6752327",
        },
    }

    def verify(self, request: WebhookRequest, source: Source) -> None:
        signature = (request.header("x-webflow-signature") or "").strip().lower()
        timestamp = (request.header("x-webflow-timestamp") or "").strip()
        if not signature:
            raise Unauthorized(
                "the x-webflow-signature header is missing; Webflow signs only webhooks "
                "created through its API (with an OAuth app or a site token), not those "
                "created in the dashboard"
            )
        if not timestamp:
            raise Unauthorized("the x-webflow-timestamp header is missing")
        require_fresh(
            timestamp,
            request.received_at,
            max_clock_skew_s(source),
            "x-webflow-timestamp",
        )
        message = f"{int(timestamp)}:".encode() + request.body
        expected = [hmac_hex(secret, message) for secret in source.secret_values("secret")]
        if not matches_any(signature, expected):
            raise Unauthorized(
                "the x-webflow-signature signature does not match; check that secret is the "
                "OAuth app's client secret, or the secretKey Webflow returned when the webhook "
                "was created with a site token"
            )

    def replay_guard(self, request: WebhookRequest, source: Source) -> ReplayGuard:
        """The signature covers x-webflow-timestamp: a copy of a delivery is refused
        for twice the tolerance window (a timestamp may be that early or late)."""
        signature = (request.header("x-webflow-signature") or "").strip().lower()
        return ReplayGuard(signature, "x-webflow-signature", 2 * max_clock_skew_s(source))

    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        body = json_body(request)
        if not isinstance(body, dict):
            raise BadPayload("expected a JSON object with triggerType and payload")
        trigger = body.get("triggerType")
        submission: Any
        if trigger is None and "data" in body and "_id" in body:
            submission = body  # the v1 format: the submission itself, `_id` as its id
        elif not isinstance(trigger, str) or not trigger:
            raise BadPayload("triggerType is missing")
        elif trigger != FORM_SUBMISSION:
            return Parsed()  # site_publish, ecommerce, CMS...: not leads
        else:
            submission = body.get("payload")
        if not isinstance(submission, dict):
            raise BadPayload("payload must be the form submission object")
        data = submission.get("data")
        if not isinstance(data, dict):
            raise BadPayload("payload.data must be an object of form field names and answers")
        submission_id = submission.get("id", submission.get("_id"))
        if not isinstance(submission_id, str) or not submission_id.strip():
            raise BadPayload("payload.id (the submission id) is missing")
        return Parsed(
            leads=[RawLead(external_id=submission_id.strip(), fields=form_fields(data, source))]
        )


def form_fields(data: dict[str, Any], source: Source) -> dict[str, str]:
    """The answers by field name. Webflow's numbered duplicates ("Email 2") are known by
    their base name when that is a well-known one and the source's `field_map` does not
    name them."""
    from ingest.mapping import ALIASES, key_of  # not at import: mapping imports the registry

    mapped = {key_of(name) for name in source.settings.get("field_map") or {}}
    fields: dict[str, str] = {}
    for name, raw in data.items():
        value = _text(raw)
        label = str(name).strip()
        if value is None or not label:
            continue
        key = key_of(label)
        numbered = _NUMBERED.match(label)
        if numbered and key not in mapped and key not in ALIASES:
            base = numbered.group("base").strip()
            if key_of(base) in ALIASES and base not in data and base not in fields:
                label = base
        fields.setdefault(label, value)
    return fields


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        joined = ", ".join(t for t in (_text(v) for v in value) if t)
        return joined or None
    text = str(value).strip()
    return text or None


PROVIDER = WebflowProvider()
