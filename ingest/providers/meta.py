"""`meta`: Meta (Facebook/Instagram) Lead Ads, through the Webhooks product on the Page
object, field `leadgen`.

How Meta talks to us (developers.facebook.com/docs/graph-api/webhooks/getting-started and
.../marketing-api/guides/lead-ads/retrieving):

- Verification request: `GET ?hub.mode=subscribe&hub.challenge=<int>&hub.verify_token=<the
  Verify Token typed in the App Dashboard>`; we answer the challenge, as text, when the token
  is one of the source's `verify_token` values.
- Event notification: a JSON POST signed with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256
  of the raw body keyed with the App Secret>`. A `leadgen` change names the lead
  (`leadgen_id`, with `page_id`, `form_id`, `ad_id`, `adgroup_id`, `created_time`) but does
  not carry its answers; one delivery may batch several entries and changes.
- The answers are read from the Graph API, `GET /{leadgen_id}`, with a Page access token
  that has `leads_retrieval`; `field_data` is a list of `{"name", "values"}`.

Secrets: `app_secret` (checks signatures and signs `appsecret_proof`), `verify_token` (the
handshake), `access_token` (a long-lived Page access token for the Graph API). Each may hold
two values while it is being rotated; calls out use the last one.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx

from ingest.providers.base import (
    MAX_JSON_DEPTH,
    BadPayload,
    FetchFailed,
    FetchRef,
    Forbidden,
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
    matches_any,
    require_signature,
)

GRAPH_FIELDS = "id,created_time,field_data,form_id,ad_id,campaign_id,is_organic,platform"
# Graph object ids are numeric strings; anything else is not put into a URL path.
_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
# The challenge is "an int you must pass back"; anything else is not echoed.
_CHALLENGE = re.compile(r"^[0-9A-Za-z_.-]{1,256}$")
_REF_KEYS = ("page_id", "form_id", "ad_id", "adgroup_id", "created_time")
# https://developers.facebook.com/docs/graph-api/guides/error-handling
_TOKEN_CODES = {102, 190}
_PERMISSION_CODES = {3, 10, *range(200, 300)}
_THROTTLE_CODES = {4, 17, 32, 341, 613, 80001, 80002, 80003, 80004, 80005, 80006, 80008}
_NOT_FOUND_SUBCODE = 33  # code 100: the object does not exist or cannot be loaded
_TEST_LEAD = "<test lead:"  # the Lead Ads Testing Tool fills every field with this


class MetaProvider(Provider):
    name = "meta"
    required_secrets = ("app_secret", "verify_token", "access_token")
    content_types = ("application/json",)
    needs_api_base_url = False
    default_api_base_url = "https://graph.facebook.com/v21.0"

    # --- the webhook --------------------------------------------------------------------

    def handshake(self, request: WebhookRequest, source: Source) -> Reply:
        mode = request.query.get("hub.mode")
        token = request.query.get("hub.verify_token")
        challenge = request.query.get("hub.challenge")
        if not (mode and token and challenge):
            raise BadPayload("hub.mode, hub.verify_token and hub.challenge are all required")
        if mode != "subscribe":
            raise BadPayload(f"hub.mode must be 'subscribe', not {mode[:40]!r}")
        if not matches_any(token, source.secret_values("verify_token")):
            raise Forbidden("hub.verify_token does not match the source's verify_token")
        if not _CHALLENGE.match(challenge):
            raise BadPayload("hub.challenge is not the number Meta sends")
        return Reply(status=200, body=challenge.encode(), content_type="text/plain")

    def verify(self, request: WebhookRequest, source: Source) -> None:
        header = request.header("x-hub-signature-256")
        if not header:
            raise Unauthorized("the X-Hub-Signature-256 header is missing")
        algorithm, _, digest = header.strip().partition("=")
        if algorithm.lower() != "sha256" or not digest:
            raise Unauthorized("the X-Hub-Signature-256 header is not of the form sha256=<hex>")
        expected = [hmac_hex(secret, request.body) for secret in source.secret_values("app_secret")]
        require_signature(digest.lower(), expected, "X-Hub-Signature-256 signature")

    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        body = json_body(request)
        if not isinstance(body, dict) or body.get("object") != "page":
            raise BadPayload('expected {"object": "page", "entry": [...]}')
        entries = body.get("entry")
        if not isinstance(entries, list):
            raise BadPayload('"entry" must be a list')
        fetches: list[FetchRef] = []
        seen: set[str] = set()
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("changes", []), list):
                raise BadPayload('each entry must be an object with a "changes" list')
            for change in entry.get("changes", []):
                if not isinstance(change, dict):
                    raise BadPayload("each change must be an object")
                if change.get("field") != "leadgen":
                    continue  # another Page field this app is subscribed to
                ref = _leadgen_ref(change.get("value"), entry.get("id"))
                if ref.external_id not in seen:
                    seen.add(ref.external_id)
                    fetches.append(ref)
        return Parsed(fetches=fetches)

    # --- the Graph API ------------------------------------------------------------------

    async def fetch(self, ref: FetchRef, source: Source, http: httpx.AsyncClient) -> RawLead:
        if not _ID.match(ref.external_id):
            raise Unusable(f"{ref.external_id!r} is not a Meta lead id")
        token = source.secret("access_token")
        url = f"{self.api_base(source)}/{quote(ref.external_id, safe='')}"
        params = {
            "fields": GRAPH_FIELDS,
            # Proves the call comes from the app's server; required when the app has
            # "Require App Secret" on (graph-api/securing-requests).
            "appsecret_proof": hmac_hex(source.secret("app_secret"), token.encode()),
        }
        try:
            response = await http.get(
                url,
                params=params,
                headers={"authorization": f"Bearer {token}", "accept": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise FetchFailed(
                f"the Graph API did not answer in time ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            # The message of a transport error never carries the token (it is in a header).
            raise FetchFailed(
                f"the Graph API could not be reached ({type(exc).__name__}: {exc})"
            ) from exc
        if response.status_code != 200:
            raise _graph_error(response, ref.external_id, source)
        lead = api_json(response.content)
        if lead is None:
            raise FetchFailed(
                f"the Graph API answered 200 with a body that is not JSON (or nests deeper "
                f"than {MAX_JSON_DEPTH} levels)"
            )
        if not isinstance(lead, dict):
            raise FetchFailed("the Graph API answered 200 with something other than an object")
        return lead_from_graph(lead, ref)


def _leadgen_ref(value: Any, entry_id: Any) -> FetchRef:
    if not isinstance(value, dict):
        raise BadPayload('a leadgen change must have a "value" object')
    leadgen_id = _id_text(value.get("leadgen_id"))
    if leadgen_id is None or not _ID.match(leadgen_id):
        raise BadPayload("a leadgen change has no valid leadgen_id")
    ref: dict[str, str] = {}
    for key in _REF_KEYS:
        text = _id_text(value.get(key))
        if text is not None:
            ref[key] = text
    page = _id_text(entry_id)
    if "page_id" not in ref and page is not None:
        ref["page_id"] = page
    return FetchRef(external_id=leadgen_id, ref=ref)


def _id_text(value: Any) -> str | None:
    """Meta sends ids and times as numbers or strings; keep them as strings."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text[:100] or None
    return None


def lead_from_graph(lead: dict[str, Any], ref: FetchRef) -> RawLead:
    """A Graph API lead (`field_data` and ad attribution) as a raw lead."""
    field_data = lead.get("field_data")
    if not isinstance(field_data, list):
        raise Unusable(f"Graph object {ref.external_id} is not a lead (it has no field_data)")
    fields: dict[str, str] = {}
    for item in field_data:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        values = item.get("values")
        if not isinstance(values, list):
            values = [] if values is None else [values]
        answer = ", ".join(str(v).strip() for v in values if v is not None and str(v).strip())
        if answer:
            fields[item["name"]] = answer
    attribution = {
        "form_id": _id_text(lead.get("form_id")) or ref.ref.get("form_id"),
        "ad_id": _id_text(lead.get("ad_id")) or ref.ref.get("ad_id"),
        "campaign_id": _id_text(lead.get("campaign_id")),
        "platform": _id_text(lead.get("platform")),
    }
    if isinstance(lead.get("is_organic"), bool):
        attribution["is_organic"] = "yes" if lead["is_organic"] else "no"
    return RawLead(
        external_id=ref.external_id,
        fields=fields,
        is_test=any(v.lower().startswith(_TEST_LEAD) for v in fields.values()),
        utm={k: v for k, v in attribution.items() if v},
    )


def _graph_error(response: httpx.Response, lead_id: str, source: Source) -> Exception:
    """What a Graph API error means for this delivery: given up on, or tried again."""
    status = response.status_code
    body = api_json(response.content)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
    message = str(error.get("message") or response.text[:200] or "no message")[:300]
    said = f"the Graph API answered {status} (code {code}, subcode {subcode}): {message}"
    if code is None and status == 404:
        return FetchFailed(
            f"{said}; that is not a Graph API error, so check api_base_url of source "
            f"{source.name!r}"
        )
    if (status == 404 and code is not None) or (
        code == 100 and (subcode == _NOT_FOUND_SUBCODE or "does not exist" in message.lower())
    ):
        return Unusable(
            f"Meta has no lead {lead_id} (deleted, older than Meta keeps leads, or not "
            f"readable with this token); {said}"
        )
    if code in _TOKEN_CODES or (error.get("type") == "OAuthException" and status == 401):
        return FetchFailed(
            f"Meta refused the access token; renew secrets.access_token of source "
            f"{source.name!r} (a long-lived Page access token with leads_retrieval), then "
            f"retry the failed deliveries; {said}"
        )
    if code in _PERMISSION_CODES:
        return FetchFailed(
            "the access token lacks a permission (leads_retrieval, pages_manage_ads, "
            "pages_read_engagement and a leads access role on the Page are needed); " + said
        )
    if code in _THROTTLE_CODES or status == 429:
        return FetchFailed(f"Meta's rate limit was reached; {said}")
    return FetchFailed(said)


PROVIDER = MetaProvider()
