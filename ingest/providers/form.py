"""`form`: a plain HTML form posting straight to Leadfarm (urlencoded or multipart).

No secret: a browser cannot keep one. What protects the endpoint instead: an optional
Origin allow-list, a honeypot field that people leave empty and bots fill (a filled one gets
the normal success answer and nothing is stored), and the per-source rate limit. After a
successful post the browser is redirected to `redirect_url` when one is set (303).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from pydantic import BaseModel, ConfigDict, Field

from ingest.providers.base import (
    BadPayload,
    Forbidden,
    Parsed,
    Provider,
    RawLead,
    Reply,
    Source,
    WebhookRequest,
)


class FormSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[str] = Field(
        default_factory=list, description="e.g. https://www.example.com; empty allows any"
    )
    honeypot_field: str | None = Field(None, description="a hidden field people leave empty")
    redirect_url: str | None = Field(None, description="the thank-you page to send people to")
    field_map: dict[str, str] = Field(default_factory=dict)


class FormProvider(Provider):
    name = "form"
    content_types = ("application/x-www-form-urlencoded", "multipart/form-data")
    settings_model = FormSettings
    example = {
        "email": "dana@acme.example",
        "name": "Dana Scully",
        "company": "Acme",
        "phone": "+49 30 1234567",
        "message": "Please call me about pricing.",
    }

    def verify(self, request: WebhookRequest, source: Source) -> None:
        allowed = source.settings.get("allowed_origins") or []
        if not allowed:
            return
        origin = request.header("origin") or _origin_of(request.header("referer"))
        if origin is None or origin.rstrip("/") not in {a.rstrip("/") for a in allowed}:
            raise Forbidden(f"the form was posted from an origin that is not allowed ({origin})")

    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        fields = form_fields(request)
        honeypot = source.settings.get("honeypot_field")
        if honeypot and fields.pop(honeypot, "").strip():
            return Parsed(honeypot=True)
        fields.pop(honeypot or "", None)
        return Parsed(leads=[RawLead(external_id=None, fields=fields)])

    def acknowledge(self, request: WebhookRequest, source: Source, parsed: Parsed) -> Reply:
        redirect = source.settings.get("redirect_url")
        if redirect:
            return Reply(
                status=303, body=b"", content_type="text/plain", headers={"location": redirect}
            )
        return Reply(
            body=b"<!doctype html><title>Thank you</title><p>Thank you, we got your details.</p>",
            content_type="text/html; charset=utf-8",
        )


MAX_FORM_FIELDS = 500
# A '%' that does not start an escape of two hex digits: the body was encoded wrongly.
_BROKEN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def form_fields(request: WebhookRequest) -> dict[str, str]:
    """The fields of an urlencoded or multipart body (repeated names joined by ', ').

    Nothing is guessed: broken percent-encoding, bytes that are not text in the declared
    charset (UTF-8 when none is declared) and an unknown charset are refused (BadPayload)."""
    pairs: list[tuple[str, str]]
    if request.content_type == "multipart/form-data":
        pairs = _multipart_pairs(request)
    else:
        pairs = _urlencoded_pairs(request)
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields[key] = (
            f"{fields[key]}, {value}" if key in fields and value else value or fields.get(key, "")
        )
    return fields


def _urlencoded_pairs(request: WebhookRequest) -> list[tuple[str, str]]:
    charset = _charset(request.header("content-type"))
    text = _decoded(request.body, charset, "the form body")
    pairs: list[tuple[str, str]] = []
    for chunk in text.split("&"):
        if not chunk:
            continue
        if len(pairs) == MAX_FORM_FIELDS:
            raise BadPayload(f"the form has more than {MAX_FORM_FIELDS} fields")
        raw_name, _, raw_value = chunk.partition("=")
        name = _unquoted(raw_name, charset, f"the name of form field {len(pairs) + 1}")
        pairs.append((name, _unquoted(raw_value, charset, f"form field {name[:60]!r}")))
    return pairs


def _unquoted(text: str, charset: str, what: str) -> str:
    if _BROKEN_ESCAPE.search(text):
        raise BadPayload(f"{what} has a '%' that is not followed by two hex digits")
    return _decoded(unquote_to_bytes(text.replace("+", " ")), charset, what)


def _charset(content_type: str | None) -> str:
    """The charset parameter of a content type (UTF-8 when there is none)."""
    from email.message import Message

    message = Message()
    message["content-type"] = content_type or ""
    return message.get_content_charset() or "utf-8"


def _decoded(data: bytes, charset: str, what: str) -> str:
    try:
        return data.decode(charset)
    except LookupError as exc:
        raise BadPayload(
            f"{what} declares charset {charset[:40]!r}, which is not a known text encoding"
        ) from exc
    except (UnicodeError, ValueError) as exc:
        raise BadPayload(
            f"{what} is not valid {charset[:40]} text (send UTF-8, or declare the page's charset)"
        ) from exc


def _multipart_pairs(request: WebhookRequest) -> list[tuple[str, str]]:
    from email.parser import BytesParser
    from email.policy import HTTP

    content_type = request.header("content-type") or ""
    if "boundary=" not in content_type:
        raise BadPayload("the multipart body has no boundary")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
    )
    if not message.is_multipart():
        raise BadPayload("the multipart body cannot be read")
    pairs = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename():
            continue  # files are not lead data
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            charset = part.get_content_charset() or "utf-8"
            pairs.append((name, _decoded(payload, charset, f"form field {name[:60]!r}")))
        if len(pairs) > MAX_FORM_FIELDS:
            raise BadPayload(f"the form has more than {MAX_FORM_FIELDS} fields")
    return pairs


def _origin_of(referer: str | None) -> str | None:
    if not referer:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


PROVIDER = FormProvider()
