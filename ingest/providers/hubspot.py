"""`hubspot`: contacts from HubSpot, in the two ways HubSpot posts them.

- App webhooks (a public or private app subscribed to contact events): a JSON array of up
  to 100 events that name contacts by id. Each `contact.creation` (or a `contact.
  propertyChange` the app subscribed to) becomes a pending fetch of
  `GET /crm/v3/objects/contacts/{id}` with the source's `access_token`; the external id is
  `<portalId>:<objectId>`, so a contact is fetched once however many events name it. A
  `contact.privacyDeletion` (a GDPR delete in HubSpot) erases the stored copy. Other events
  are acknowledged and ignored.
- Workflow webhooks (the "Send a webhook" action of a contact-based workflow): one JSON
  object, either the whole contact as the contacts API gives it (`{"vid": ..,
  "portal-id": .., "properties": {"email": {"value": ..}, ..}}`) or the properties chosen
  in "Customize request body" as a flat object. It becomes a lead at once.

Both are signed with the app's client secret (`X-HubSpot-Signature-v3`, base64 HMAC-SHA256
of method + URI + body + `X-HubSpot-Request-Timestamp`), which is checked against every
configured value, and requests older than five minutes are refused.
See https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from ingest.providers.base import (
    MAX_JSON_DEPTH,
    BadPayload,
    FetchFailed,
    FetchRef,
    Parsed,
    Provider,
    RawLead,
    ReplayGuard,
    Source,
    Unauthorized,
    Unusable,
    WebhookRequest,
    api_json,
    hmac_b64,
    json_body,
    matches_any,
    max_clock_skew_s,
    require_fresh,
)

CONTACT_PROPERTIES: tuple[str, ...] = (
    "email",
    "work_email",
    "firstname",
    "lastname",
    "phone",
    "mobilephone",
    "company",
    "website",
    "jobtitle",
    "industry",
    "numemployees",
    "country",
    "state",
    "city",
    "hs_language",
    "message",
    "hs_lead_status",
    "lifecyclestage",
)
"""The contact properties fetched (and kept from a workflow's whole-contact body), in the
order they are mapped: `phone` before `mobilephone`, so the first wins."""

# HubSpot's own names that the shared aliases do not know, as the name they do know.
RENAMES: dict[str, str] = {"mobilephone": "mobile_phone", "hs_language": "language"}

# Record-keeping properties HubSpot returns whatever is asked for; not lead data.
_RECORD_KEEPING = frozenset({"createdate", "lastmodifieddate", "hs_object_id"})

# Events that name a contact to fetch, and those that erase one (GDPR delete in HubSpot).
FETCH_EVENTS = frozenset({"contact.creation", "contact.propertyChange"})
GENERIC_FETCH_EVENTS = frozenset({"object.creation", "object.propertyChange"})
ERASE_EVENTS = frozenset({"contact.privacyDeletion"})
CONTACT_OBJECT_TYPE = "0-1"  # objectTypeId of contacts in the generic (object.*) events

# HubSpot's v3 signature is computed over the URI with these characters decoded.
_SIGNED_DECODED = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)

_ID = re.compile(r"^[0-9]{1,20}$")


class HubSpotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field_map: dict[str, str] = Field(
        default_factory=dict,
        description="HubSpot property name -> lead field, e.g. {'hs_whatsapp_phone_number': "
        "'phone'}",
    )
    extra_properties: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="More contact properties to fetch and keep (custom ones included); "
        "unmapped ones become custom answers",
    )
    max_clock_skew_s: int = Field(
        300, ge=30, le=900, description="How old (or early) X-HubSpot-Request-Timestamp may be"
    )
    public_base_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="The scheme, host (and path prefix) HubSpot calls, when a proxy in front "
        "of Leadfarm changes them, e.g. https://leads.example.com",
    )


class HubSpotProvider(Provider):
    name = "hubspot"
    required_secrets = ("client_secret",)
    optional_secrets = ("access_token",)
    content_types = ("application/json",)
    default_api_base_url = "https://api.hubapi.com"
    settings_model = HubSpotSettings

    # --- verify ------------------------------------------------------------------------

    def verify(self, request: WebhookRequest, source: Source) -> None:
        signature = (request.header("x-hubspot-signature-v3") or "").strip()
        timestamp = (request.header("x-hubspot-request-timestamp") or "").strip()
        if not signature:
            raise Unauthorized(
                "the X-HubSpot-Signature-v3 header is missing; HubSpot sends it when the "
                "webhook belongs to an app (for a workflow webhook choose 'Include request "
                "signature in header' and the app's ID)"
            )
        if not timestamp:
            raise Unauthorized("the X-HubSpot-Request-Timestamp header is missing")
        require_fresh(
            timestamp,
            request.received_at,
            max_clock_skew_s(source),
            "X-HubSpot-Request-Timestamp",
        )
        uri = signed_uri(request.url, source.settings.get("public_base_url"))
        message = request.method.upper().encode() + uri.encode() + request.body + timestamp.encode()
        expected = [hmac_b64(secret, message) for secret in source.secret_values("client_secret")]
        if not matches_any(signature, expected):
            raise Unauthorized(
                f"the X-HubSpot-Signature-v3 signature does not match (checked as "
                f"{request.method.upper()} {uri}); check that client_secret is the app's client "
                "secret and, behind a proxy, set settings.public_base_url to the URL HubSpot calls"
            )

    def replay_guard(self, request: WebhookRequest, source: Source) -> ReplayGuard:
        """The signature covers X-HubSpot-Request-Timestamp: a copy of a delivery is refused
        for twice the tolerance window (a timestamp may be that early or late)."""
        signature = (request.header("x-hubspot-signature-v3") or "").strip()
        return ReplayGuard(signature, "X-HubSpot-Signature-v3", 2 * max_clock_skew_s(source))

    # --- parse -------------------------------------------------------------------------

    def parse(self, request: WebhookRequest, source: Source) -> Parsed:
        body = json_body(request)
        if isinstance(body, list):
            return _events(body)
        if isinstance(body, dict):
            return Parsed(leads=[_workflow_lead(body, source)])
        raise BadPayload(
            "expected a JSON array of webhook events (app webhooks) or a JSON object of "
            "contact properties (a workflow's 'Send a webhook' action)"
        )

    # --- fetch -------------------------------------------------------------------------

    async def fetch(self, ref: FetchRef, source: Source, http: httpx.AsyncClient) -> RawLead:
        if not source.secret_values("access_token"):
            raise Unusable(
                f"source {source.name!r} has no access_token, so HubSpot contacts cannot be "
                "fetched; set secrets.access_token to a private app token with the "
                "crm.objects.contacts.read scope, then retry the delivery"
            )
        contact_id = ref.ref.get("contact_id") or ref.external_id.rpartition(":")[2]
        if not _ID.match(contact_id):
            raise Unusable(f"{contact_id!r} is not a HubSpot contact id")
        url = f"{self.api_base(source)}/crm/v3/objects/contacts/{contact_id}"
        properties = _unique([*CONTACT_PROPERTIES, *_configured_properties(source)])
        try:
            response = await http.get(
                url,
                params={"properties": ",".join(properties)},
                headers={
                    "authorization": f"Bearer {source.secret('access_token')}",
                    "accept": "application/json",
                },
            )
        except httpx.TimeoutException as exc:
            raise FetchFailed(f"HubSpot did not answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(
                f"HubSpot could not be reached ({type(exc).__name__}: {exc})"
            ) from exc
        status = response.status_code
        if status == 404:
            raise Unusable(
                f"HubSpot has no contact {contact_id} (deleted or merged away, or the "
                "access_token belongs to another HubSpot account)"
            )
        if status == 401:
            raise FetchFailed(
                "HubSpot refused the access token (401); check that secrets.access_token of "
                f"source {source.name!r} is a current private app token"
            )
        if status == 403:
            raise FetchFailed(
                "HubSpot denied access (403); the private app needs the "
                "crm.objects.contacts.read scope"
            )
        if status == 429:
            wait = response.headers.get("retry-after")
            raise FetchFailed(
                "HubSpot's rate limit was reached (429)"
                + (f"; retry after {wait} s" if wait else "")
            )
        if status != 200:
            raise FetchFailed(f"HubSpot answered {status}: {response.text[:200]}")
        contact = api_json(response.content)
        if contact is None:
            raise FetchFailed(
                f"HubSpot answered 200 with a body that is not JSON (or nests deeper than "
                f"{MAX_JSON_DEPTH} levels)"
            )
        if not isinstance(contact, dict) or not isinstance(contact.get("properties"), dict):
            raise FetchFailed("HubSpot answered 200 without the contact's properties")
        if contact.get("archived") is True:
            raise Unusable(f"HubSpot contact {contact_id} is archived")
        return RawLead(
            external_id=ref.external_id,
            fields=contact_fields(contact["properties"], source, keep_all=False),
        )


# --- app webhook events ---------------------------------------------------------------------


def _events(events: list[Any]) -> Parsed:
    fetches: dict[str, FetchRef] = {}
    erased: list[str] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise BadPayload(f"event {index} is not a JSON object")
        kind = event.get("subscriptionType")
        if not isinstance(kind, str) or not kind:
            raise BadPayload(f"event {index} has no subscriptionType")
        fetch = kind in FETCH_EVENTS or (
            kind in GENERIC_FETCH_EVENTS and str(event.get("objectTypeId")) == CONTACT_OBJECT_TYPE
        )
        if not fetch and kind not in ERASE_EVENTS:
            continue  # other objects and events are none of ingest's business
        contact_id = _id_of(event.get("objectId"), f"event {index} objectId")
        portal_id = _id_of(event.get("portalId"), f"event {index} portalId")
        external_id = f"{portal_id}:{contact_id}"
        if not fetch:
            erased.append(external_id)
        elif external_id not in fetches:
            fetches[external_id] = FetchRef(
                external_id,
                {"contact_id": contact_id, "portal_id": portal_id, "event": kind},
            )
    return Parsed(fetches=list(fetches.values()), deletions=erased)


def _id_of(value: Any, what: str) -> str:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not _ID.match(text):
        raise BadPayload(f"{what} is missing or not a HubSpot id")
    return text


# --- workflow webhooks ----------------------------------------------------------------------

_CONTACT_ID_KEYS = ("hs_object_id", "vid", "canonical-vid", "id", "objectId")
_PORTAL_ID_KEYS = ("portal-id", "portalId", "hs_portal_id")


def _workflow_lead(body: dict[str, Any], source: Source) -> RawLead:
    if "properties" in body:
        # The whole contact, as the contacts API gives it.
        properties = body["properties"]
        if not isinstance(properties, dict):
            raise BadPayload("properties must be an object of contact property values")
        fields = contact_fields(properties, source, keep_all=False)
        ids = {k: body.get(k) for k in (*_CONTACT_ID_KEYS, *_PORTAL_ID_KEYS)}
        ids["hs_object_id"] = _value(properties.get("hs_object_id"))
    else:
        # The properties chosen in "Customize request body": every one is wanted.
        ids = {k: body.pop(k, None) for k in (*_CONTACT_ID_KEYS, *_PORTAL_ID_KEYS)}
        fields = contact_fields(body, source, keep_all=True)
    contact = next((_text(ids[k]) for k in _CONTACT_ID_KEYS if _text(ids[k])), None)
    portal = next((_text(ids[k]) for k in _PORTAL_ID_KEYS if _text(ids[k])), None)
    external_id = None
    if contact:
        external_id = f"{portal}:{contact}" if portal else contact
    return RawLead(external_id=external_id, fields=fields)


# --- shared ---------------------------------------------------------------------------------


def contact_fields(
    properties: Mapping[str, Any], source: Source, *, keep_all: bool
) -> dict[str, str]:
    """HubSpot contact properties as the field names the shared mapper knows.

    Empty values are dropped (so an empty `phone` does not hide `mobilephone`), record-keeping
    properties are dropped, HubSpot-only names are renamed unless the source's `field_map`
    names them, and unless `keep_all`, only the properties Leadfarm asks for (plus
    `extra_properties` and those in `field_map`) are kept: a workflow's whole-contact body
    carries hundreds of HubSpot's own analytics properties.
    """
    from ingest.mapping import key_of  # not at import: mapping imports the provider registry

    field_map = source.settings.get("field_map") or {}
    mapped = {key_of(name) for name in field_map}
    wanted = {*CONTACT_PROPERTIES, *_configured_properties(source)}
    ordered = [p for p in CONTACT_PROPERTIES if p in properties]
    ordered += [p for p in properties if p not in CONTACT_PROPERTIES]
    fields: dict[str, str] = {}
    for name in ordered:
        if name in _RECORD_KEEPING or not (keep_all or name in wanted):
            continue
        value = _text(_value(properties[name]))
        if not value:
            continue
        label = name if key_of(name) in mapped else RENAMES.get(name, name)
        fields.setdefault(label, value)
    return fields


def _configured_properties(source: Source) -> list[str]:
    extra = [str(p) for p in source.settings.get("extra_properties") or []]
    mapped = [str(p) for p in source.settings.get("field_map") or {}]
    return [p for p in (*extra, *mapped) if re.fullmatch(r"[A-Za-z0-9_]{1,100}", p)]


def _value(value: Any) -> Any:
    """A property's value: the v1 contacts API wraps each in {"value": .., "versions": ..}."""
    if isinstance(value, dict):
        return value.get("value")
    return value


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


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def signed_uri(url: str, public_base_url: str | None = None) -> str:
    """The URI as HubSpot signs it: the URL it called, with `%3A %2F %3F %40 %21 %24 %27 %28
    %29 %2A %2C %3B` decoded. `public_base_url` replaces the scheme and host a proxy
    changed."""
    if public_base_url:
        parts = urlsplit(url)
        url = public_base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return _SIGNED_DECODED.sub(lambda m: chr(int(m.group(1), 16)), url)


PROVIDER = HubSpotProvider()
