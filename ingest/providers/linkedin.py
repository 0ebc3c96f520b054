"""`linkedin`: LinkedIn Lead Sync (Lead Gen Forms), through a lead notification webhook.

How LinkedIn talks to us (learn.microsoft.com/linkedin/shared/api-guide/webhook-validation
and .../marketing/lead-sync/leadsync):

- Validation: `GET ?challengeCode=<type-4 UUID>` (again every 2 hours); we answer
  `{"challengeCode": ..., "challengeResponse": hex(HMAC-SHA256(challengeCode, clientSecret))}`
  as JSON. Only UUIDs are answered: the answer is an HMAC keyed with the client secret, so
  echoing anything else would let anyone obtain a valid signature for a body they wrote.
- Notification: a JSON POST signed in `X-LI-Signature`: the hex HMAC-SHA256, keyed with the
  client secret, of the raw body prefixed by `hmacsha256=` (the docs: "compute the signature
  on the POST body prefixed by hmacsha256="). An HMAC of the body alone is refused. The
  header may carry the digest with a `hmacsha256=` label; the digest is the same.
- A notification (`type` LEAD_ACTION) names the lead (`leadGenFormResponse` URN), its form
  (`leadGenForm`), and `leadAction`: CREATED (fetched) or DELETED (our stored copy is erased).
- The lead is read from `GET /rest/leadFormResponses/{id}` and its form's questions from
  `GET /rest/leadForms/{id}`, so each answer (by `questionId`) gets a name: the
  `predefinedField` (FIRST_NAME -> first_name, EMAIL -> email, ...) or the question's label.

Secrets: `client_secret` (signatures and the validation answer), `access_token` (an OAuth
token with r_marketing_leadgen_automation). Settings: `field_map`, and `api_version`, the
`LinkedIn-Version` sent with each call (LinkedIn retires a version about a year after it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from pydantic import Field

from ingest.providers.base import (
    MAX_JSON_DEPTH,
    BadPayload,
    FetchFailed,
    FetchRef,
    FieldMapSettings,
    Parsed,
    Provider,
    RawLead,
    Reply,
    Source,
    Unauthorized,
    Unusable,
    WebhookRequest,
    api_json,
    hmac_hex,
    json_body,
    require_signature,
)

SIGNATURE_PREFIX = b"hmacsha256="
DEFAULT_API_VERSION = "202606"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RESPONSE_URN = "urn:li:leadGenFormResponse:"
_ID = re.compile(r"^[0-9A-Za-z_-]{1,128}$")
_FORM_ID = re.compile(r"urn:li:leadGenForm:(\d{1,20})")
# predefinedField values whose plain lower-case name is not one the mapper knows.
_PREDEFINED_NAMES = {"WORK_PHONE_NUMBER": "work_phone"}


class LinkedInSettings(FieldMapSettings):
    api_version: str = Field(
        DEFAULT_API_VERSION,
        pattern=r"^\d{6}$",
        description="The LinkedIn-Version (YYYYMM) of the Marketing API calls; keep it one "
        "LinkedIn still serves",
    )


class LinkedInProvider(Provider):
    name = "linkedin"
    required_secrets = ("client_secret", "access_token")
    content_types = ("application/json",)
    needs_api_base_url = False
    default_api_base_url = "https://api.linkedin.com/rest"
    settings_model = LinkedInSettings

    # --- the webhook --------------------------------------------------------------------

    def handshake(self, request: WebhookRequest, source: Source) -> Reply:
        code = request.query.get("challengeCode")
        if not code:
            raise BadPayload("challengeCode is required")
        if not _UUID.match(code):
            raise BadPayload("challengeCode is not the UUID LinkedIn sends")
        answer = {
            "challengeCode": code,
            "challengeResponse": challenge_response(code, source.secret("client_secret")),
        }
        return Reply(status=200, body=orjson.dumps(answer), content_type="application/json")

    def verify(self, request: WebhookRequest, source: Source) -> None:
        header = request.header("x-li-signature")
        if not header:
            raise Unauthorized("the X-LI-Signature header is missing")
        presented = header.strip().lower()
        presented = presented.removeprefix(SIGNATURE_PREFIX.decode())
        expected = [
            hmac_hex(secret, SIGNATURE_PREFIX + request.body)
            for secret in source.secret_values("client_secret")
        ]
        require_signature(presented, expected, "X-LI-Signature signature")

    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        body = json_body(request)
        notifications = body if isinstance(body, list) else [body]
        fetches: list[FetchRef] = []
        deletions: list[str] = []
        for notification in notifications:
            if not isinstance(notification, dict):
                raise BadPayload("a lead notification must be a JSON object")
            kind = notification.get("type", "LEAD_ACTION")
            if kind != "LEAD_ACTION":
                continue  # another event family posted to this URL: nothing to do
            lead_id = response_id(notification.get("leadGenFormResponse"))
            action = notification.get("leadAction")
            if action == "CREATED":
                if lead_id not in {f.external_id for f in fetches}:
                    fetches.append(FetchRef(external_id=lead_id, ref=_ref(notification)))
            elif action == "DELETED":
                if lead_id not in deletions:
                    deletions.append(lead_id)
            else:
                raise BadPayload(f"leadAction must be CREATED or DELETED, not {action!r:.40}")
        return Parsed(fetches=fetches, deletions=deletions)

    # --- the Marketing API --------------------------------------------------------------

    async def fetch(self, ref: FetchRef, source: Source, http: httpx.AsyncClient) -> RawLead:
        if not _ID.match(ref.external_id):
            raise Unusable(f"{ref.external_id!r} is not a LinkedIn lead id")
        base = self.api_base(source)
        headers = {
            "authorization": f"Bearer {source.secret('access_token')}",
            "linkedin-version": str(source.settings.get("api_version") or DEFAULT_API_VERSION),
            "x-restli-protocol-version": "2.0.0",
            "accept": "application/json",
        }
        lead = await _get(
            http, f"{base}/leadFormResponses/{quote(ref.external_id, safe='')}", headers, source
        )
        if lead is None:
            raise Unusable(
                f"LinkedIn has no lead {ref.external_id} (deleted, or not readable with this token)"
            )
        form_urn = str(lead.get("versionedLeadGenFormUrn") or ref.ref.get("form") or "")
        found = _FORM_ID.search(form_urn)
        form_id = found.group(1) if found else ref.ref.get("form_id")
        if not form_id:
            raise Unusable(f"LinkedIn lead {ref.external_id} does not name its form")
        form = await _get(http, f"{base}/leadForms/{form_id}", headers, source)
        if form is None:
            raise Unusable(
                f"LinkedIn has no form {form_id} any more, so the answers of lead "
                f"{ref.external_id} cannot be named"
            )
        return lead_from_response(lead, form, ref)


def challenge_response(challenge_code: str, client_secret: str) -> str:
    """Hex-encoded(HMACSHA256(challengeCode, clientSecret)), as the validation expects."""
    return hmac_hex(client_secret, challenge_code.encode())


def response_id(urn: Any) -> str:
    """The lead id of a `urn:li:leadGenFormResponse:<id>` (a bare id is taken as is)."""
    if not isinstance(urn, str) or not urn.strip():
        raise BadPayload("leadGenFormResponse (the lead's URN) is missing")
    lead_id = urn.strip().removeprefix(_RESPONSE_URN)
    if not _ID.match(lead_id):
        raise BadPayload(f"leadGenFormResponse {urn[:80]!r} is not a lead URN")
    return lead_id


def _ref(notification: Mapping[str, Any]) -> dict[str, str]:
    ref: dict[str, str] = {}
    form = notification.get("leadGenForm")
    if isinstance(form, str) and form:
        ref["form"] = form[:200]
        found = _FORM_ID.search(form)
        if found:
            ref["form_id"] = found.group(1)
    for key, name in (("leadType", "lead_type"), ("occurredAt", "occurred_at")):
        value = notification.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            ref[name] = str(value)[:100]
    owner = notification.get("owner")
    if isinstance(owner, dict):
        urns = [str(v) for v in owner.values() if isinstance(v, str)]
        if urns:
            ref["owner"] = urns[0][:200]
    return ref


async def _get(
    http: httpx.AsyncClient, url: str, headers: Mapping[str, str], source: Source
) -> dict[str, Any] | None:
    """One Marketing API read: the object, None when LinkedIn says it does not exist, or
    FetchFailed (retried) for anything else."""
    try:
        response = await http.get(url, headers=dict(headers))
    except httpx.TimeoutException as exc:
        raise FetchFailed(f"LinkedIn did not answer in time ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise FetchFailed(f"LinkedIn could not be reached ({type(exc).__name__}: {exc})") from exc
    status = response.status_code
    if status == 200:
        found = api_json(response.content)
        if found is None:
            raise FetchFailed(
                f"LinkedIn answered 200 with a body that is not JSON (or nests deeper than "
                f"{MAX_JSON_DEPTH} levels)"
            )
        if not isinstance(found, dict):
            raise FetchFailed("LinkedIn answered 200 with something other than an object")
        return found
    said = f"LinkedIn answered {status}: {_message(response)}"
    if status == 404:
        if _is_linkedin_error(response):
            return None
        raise FetchFailed(
            f"{said}; that is not a LinkedIn API error, so check api_base_url of source "
            f"{source.name!r}"
        )
    if status == 401:
        raise FetchFailed(
            f"LinkedIn refused the access token; renew secrets.access_token of source "
            f"{source.name!r} (LinkedIn access tokens expire after 60 days), then retry the "
            f"failed deliveries; {said}"
        )
    if status == 403:
        raise FetchFailed(
            "the access token may not read these leads (it needs r_marketing_leadgen_automation "
            "and a role on the ad account or Page that owns the form); " + said
        )
    if status == 426:
        raise FetchFailed(
            f"LinkedIn no longer serves LinkedIn-Version "
            f"{source.settings.get('api_version') or DEFAULT_API_VERSION}; set "
            f"settings.api_version of source {source.name!r} to a current YYYYMM; {said}"
        )
    if status == 429:
        raise FetchFailed(f"LinkedIn's rate limit was reached; {said}")
    raise FetchFailed(said)


def _is_linkedin_error(response: httpx.Response) -> bool:
    """LinkedIn's error bodies are `{"status": ..., "message": ..., "serviceErrorCode": ...}`."""
    body = api_json(response.content)
    return isinstance(body, dict) and ("serviceErrorCode" in body or "status" in body)


def _message(response: httpx.Response) -> str:
    body = api_json(response.content)
    if body is None:
        return response.text[:200] or "no message"
    if isinstance(body, dict) and body.get("message"):
        code = body.get("serviceErrorCode")
        return str(body["message"])[:300] + (f" (serviceErrorCode {code})" if code else "")
    return response.text[:200]


def lead_from_response(lead: Mapping[str, Any], form: Mapping[str, Any], ref: FetchRef) -> RawLead:
    """A lead form response as a raw lead: each answer named after its question."""
    content = _object(form.get("content"))
    questions = {
        str(q.get("questionId")): q
        for q in _objects(content.get("questions"))
        if q.get("questionId") is not None
    }
    response = _object(lead.get("formResponse"))
    fields: dict[str, str] = {}
    for answer in _objects(response.get("answers")):
        question = questions.get(str(answer.get("questionId")), {})
        name = _question_name(question) or f"question {answer.get('questionId')}"
        value = _answer_text(answer.get("answerDetails"), question)
        if value and name not in fields:
            fields[name] = value
    consents = {
        str(c.get("id")): _localized(c.get("consent"))
        for c in _objects(_dig(content, "legalInfo", "consents"))
    }
    for consent in _objects(response.get("consentResponses")):
        text = consents.get(str(consent.get("consentId"))) or f"consent {consent.get('consentId')}"
        if isinstance(consent.get("accepted"), bool):
            fields.setdefault(f"Consent: {text}"[:200], "yes" if consent["accepted"] else "no")
    for hidden in _objects(form.get("hiddenFields")):
        # Tracking values the advertiser set on the form (utm_source=..., ...).
        if isinstance(hidden.get("name"), str) and isinstance(hidden.get("value"), str | int):
            fields.setdefault(hidden["name"], str(hidden["value"]))
    attribution = {
        "form_id": ref.ref.get("form_id") or _text(form.get("id")),
        "campaign_id": _text(_dig(lead, "leadMetadata", "sponsoredLeadMetadata", "campaign")),
        "ad_id": _text(_dig(lead, "associatedEntity", "associatedCreative")),
        "lead_type": _text(lead.get("leadType")) or ref.ref.get("lead_type"),
    }
    return RawLead(
        external_id=ref.external_id,
        fields=fields,
        is_test=lead.get("testLead") is True,
        utm={k: v for k, v in attribution.items() if v},
    )


def _question_name(question: Mapping[str, Any]) -> str | None:
    predefined = question.get("predefinedField")
    if isinstance(predefined, str) and predefined:
        return _PREDEFINED_NAMES.get(predefined, predefined.lower())
    label = _localized(question.get("question"))
    if label:
        return label[:200]
    name = question.get("name")
    return name[:200] if isinstance(name, str) and name else None


def _answer_text(details: Any, question: Mapping[str, Any]) -> str | None:
    if not isinstance(details, dict):
        return None
    text = _dig(details, "textQuestionAnswer", "answer")
    if isinstance(text, str | int) and not isinstance(text, bool):
        return str(text).strip() or None
    chosen = _dig(details, "multipleChoiceAnswer", "options")
    if isinstance(chosen, list):
        options = {
            str(o.get("id")): _localized(o.get("text"))
            for o in _objects(
                _dig(question, "questionDetails", "multipleChoiceQuestionDetails", "options")
            )
        }
        picked = [options.get(str(c)) or str(c) for c in chosen]
        return ", ".join(p for p in picked if p) or None
    return None


def _localized(value: Any) -> str | None:
    """The text of a LinkedIn MultiLocaleString ({"localized": {"en_US": ...}})."""
    localized = value.get("localized") if isinstance(value, dict) else None
    if isinstance(localized, dict):
        for text in localized.values():
            if isinstance(text, str) and text.strip():
                return text.strip()
    return None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)[:200] or None
    return None


PROVIDER = LinkedInProvider()
