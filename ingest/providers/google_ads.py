"""`google-ads`: the webhook of Google Ads lead form assets.

Format (https://developers.google.com/google-ads/webhook/docs/implementation and
.../docs/samples): a JSON POST with `lead_id` (a string, unique across all forms: the
external id, "use this to dedupe leads"), `api_version`, `form_id`, `campaign_id`,
`adgroup_id`, `creative_id`, `asset_group_id` (64-bit integers: kept as their exact
decimal strings), `google_key`, `is_test`, `gcl_id`, `lead_stage`, `lead_submit_time` and
`user_column_data`: a list of {column_id, column_name, string_value}.

Authentication: `google_key` is the key the advertiser typed into the lead form's webhook
settings; it is compared in constant time with every current value of the source's
`google_key` before anything else in the body is used.

`column_id` values (the LeadFormFieldUserInputType enum: FULL_NAME, FIRST_NAME, LAST_NAME,
EMAIL, PHONE_NUMBER, WORK_EMAIL, WORK_PHONE, COMPANY_NAME, JOB_TITLE, CITY, REGION,
COUNTRY, POSTAL_CODE, STREET_ADDRESS, ...) become the field names the mapper knows; other
questions keep their `column_name` (their `column_id` when they have no name). Test leads
(`is_test: true`, e.g. from "Send test data") are flagged as tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from ingest.mapping import key_of
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

KEY_FIELD = "google_key"
ID_FIELDS = ("form_id", "campaign_id", "adgroup_id", "creative_id", "asset_group_id")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"^-?[0-9]{1,20}$")

# column_id -> a field name the shared mapper (ingest.mapping) knows, or a readable name
# kept as a custom answer.
COLUMN_NAMES = {
    "FULL_NAME": "full_name",
    "FIRST_NAME": "first_name",
    "GIVEN_NAME": "first_name",
    "LAST_NAME": "last_name",
    "FAMILY_NAME": "last_name",
    "EMAIL": "email",
    "WORK_EMAIL": "work_email",
    "PHONE_NUMBER": "phone",
    "WORK_PHONE": "work_phone",
    "COMPANY_NAME": "company",
    "JOB_TITLE": "job_title",
    "CITY": "city",
    "REGION": "region",
    "COUNTRY": "country",
    "POSTAL_CODE": "postal_code",
    "STREET_ADDRESS": "street_address",
}


class GoogleAdsProvider(Provider):
    name = "google-ads"
    required_secrets = ("google_key",)
    content_types = ("application/json",)
    example = {
        "lead_id": "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz-0123456789",
        "api_version": "1.0",
        "form_id": 40000000000,
        "campaign_id": 20000000000,
        "google_key": "the key typed in the lead form's webhook settings",
        "is_test": True,
        "user_column_data": [
            {"column_id": "FULL_NAME", "column_name": "Full Name", "string_value": "Dana Scully"},
            {"column_id": "EMAIL", "column_name": "Email", "string_value": "dana@acme.example"},
        ],
    }

    def verify(self, request: WebhookRequest, source: Source) -> None:
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return  # not JSON: parse answers 400, and nothing in it is ever used
        require_signature(_google_key(body), source.secret_values(KEY_FIELD), "google_key")

    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        body = json_body(request)
        if not isinstance(body, dict):
            raise BadPayload("the body must be a JSON object")
        lead_id = body.get("lead_id")
        if not isinstance(lead_id, str) or not lead_id.strip():
            raise BadPayload("lead_id is missing")
        columns = body.get("user_column_data")
        if not isinstance(columns, list):
            raise BadPayload("user_column_data must be a list")
        field_map = {key_of(k) for k in (source.settings.get("field_map") or {})}
        fields = _column_fields(columns, field_map)
        for id_field in ID_FIELDS:
            value = _int64(body, id_field)
            if value is not None:
                fields.setdefault(f"google_ads_{id_field}", value)
        for extra in ("lead_stage", "lead_submit_time"):
            if isinstance(body.get(extra), str) and body[extra]:
                fields.setdefault(f"google_ads_{extra}", body[extra])
        is_test = body.get("is_test")
        is_test = False if is_test is None else is_test
        if not isinstance(is_test, bool):
            raise BadPayload("is_test must be true or false")
        gclid = body.get("gcl_id")
        return Parsed(
            leads=[
                RawLead(
                    external_id=lead_id.strip(),
                    fields=fields,
                    is_test=is_test,
                    click_ids={"gclid": gclid} if isinstance(gclid, str) and gclid else {},
                )
            ]
        )


def _google_key(body: Any) -> str | None:
    """The key in the body. JSON names are case-sensitive: only `google_key` is the key (a
    `Google_key` or `GOOGLE_KEY` is another member, and the key is then missing)."""
    if not isinstance(body, dict):
        return None
    value = body.get(KEY_FIELD)
    return value if isinstance(value, str) else None


def _column_fields(columns: list[Any], field_map: set[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for column in columns:
        if not isinstance(column, dict):
            raise BadPayload("each user_column_data entry must be an object")
        value = column.get("string_value")
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadPayload("user_column_data string_value must be a string")
        column_id = _text(column.get("column_id"))
        column_name = _text(column.get("column_name"))
        name = _name(column_id, column_name, field_map)
        if not name:
            raise BadPayload("a user_column_data entry has neither column_id nor column_name")
        if name in fields:
            name = f"{name} ({column_id or len(fields)})"
        fields[name] = value
    return fields


def _name(column_id: str, column_name: str, field_map: set[str]) -> str:
    """The source's field_map first (by column_id or column_name), then the known ids, then
    the question's own text."""
    for candidate in (column_id, column_name):
        if candidate and key_of(candidate) in field_map:
            return candidate
    return COLUMN_NAMES.get(column_id.upper()) or column_name or column_id


def _int64(body: Mapping[str, Any], name: str) -> str | None:
    """A 64-bit id as its exact decimal string. Integers are parsed exactly (orjson); the
    proto3 JSON form (a string of digits) is accepted too; a float means precision was
    already lost and is refused."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadPayload(f"{name} must be a 64-bit integer")
    text = str(value).strip()
    if not _INTEGER.match(text):
        raise BadPayload(f"{name} must be a 64-bit integer")
    number = int(text)
    if not INT64_MIN <= number <= INT64_MAX:
        raise BadPayload(f"{name} is out of the 64-bit range")
    return str(number)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


PROVIDER = GoogleAdsProvider()
