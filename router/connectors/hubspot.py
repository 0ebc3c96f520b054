"""HubSpot: contacts, owners and notes out; calls and emails in.

Out, through HubSpot's CRM v3 API with a private app's access token (Bearer):

- `lead.assigned` and `lead.reassigned`: the contact is created or updated by email in one
  request (`POST /crm/v3/objects/contacts/batch/upsert`, `idProperty: email`), with
  `hubspot_owner_id` set to the rep's HubSpot owner id (`crm_owner_ids.hubspot`); then a
  note associated with the contact (`POST /crm/v3/objects/notes`, association type 202,
  note to contact) holds the lead's summary and why this rep got it.
- `lead.returned`: the owner is cleared, set to `settings.return_owner_id`, or kept
  (`settings.on_return`), and a note says why the lead went back to marketing.

In, through HubSpot's webhooks (an app's `object.creation` subscriptions for calls, 0-48,
and emails, 0-49), signed with the app's client secret (`X-HubSpot-Signature-v3`, checked
by ingest's HubSpot provider): each names a call or an email by id, which is fetched with
its contacts (`GET /crm/v3/objects/{calls|emails}/{id}?associations=contacts`), and the
contacts' emails when Leadfarm did not write them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ingest.providers.base import Source, WebhookRequest
from ingest.providers.hubspot import PROVIDER as HUBSPOT_PROVIDER
from router.connectors.base import (
    AccountPage,
    AccountSyncSettings,
    BadWebhook,
    Connector,
    CrmAccount,
    Delivery,
    InboundActivity,
    InboundEvent,
    SyncsAccounts,
    TakesActivities,
    Target,
    VendorError,
    Written,
)
from router.connectors.hubspot_api import HubSpotApi
from router.connectors.hubspot_notes import assignment_note, contact_properties, return_note
from router.records import ActivityOutcome

ASSIGNED = "leadfarm.lead.assigned.v1"
REASSIGNED = "leadfarm.lead.reassigned.v1"
RETURNED = "leadfarm.lead.returned.v1"

CALLS, EMAILS = "0-48", "0-49"
"""objectTypeId of calls and emails in HubSpot's generic (object.*) webhook events."""
OBJECT_PATHS = {CALLS: "calls", EMAILS: "emails"}
ACTIVITY_EVENTS = frozenset({"object.creation"})

# HubSpot's default call outcomes (hs_call_disposition), as Leadfarm's.
DEFAULT_CALL_OUTCOMES: dict[str, ActivityOutcome] = {
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": "connected",
    "73a0d17f-1163-4015-bdd5-ec830791da20": "no_answer",
    "b2cf5968-551e-4856-9783-52b3da59a7d0": "voicemail",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "voicemail",  # left a live message
    "9d9162e7-6cf3-4944-bf63-4dff82258764": "no_answer",  # busy
    "17b47fee-58de-441e-a44c-c6300d46f273": "bad_number",  # wrong number
}
# hs_email_direction: an email the rep sent (logged or tracked), or the lead's reply.
EMAIL_OUTCOMES: dict[str, ActivityOutcome] = {"EMAIL": "sent", "INCOMING_EMAIL": "replied"}

COMPANY_PROPERTIES = ("domain", "name", "hubspot_owner_id", "hs_lastmodifieddate")
COMPANIES_PER_PAGE = 100
"""The most HubSpot's CRM search returns per request."""
SEARCH_RESULTS_LIMIT = 9_900
"""HubSpot's search answers at most 10,000 results per query (paging past is a 400)."""

_ID = re.compile(r"^[0-9]{1,20}$")
FETCHES_AT_ONCE = 4
"""HubSpot requests in flight for one webhook (well within its per-second rate limit)."""


class HubSpotSettings(AccountSyncSettings):
    model_config = ConfigDict(extra="forbid")

    api_base_url: str = Field(
        "https://api.hubapi.com",
        pattern=r"^https?://[^/?#\s]+$",
        description="HubSpot's API (a local fake in tests)",
    )
    on_return: Literal["clear_owner", "set_owner", "keep_owner"] = Field(
        "clear_owner",
        description="On lead.returned: clear the contact's owner, set it to "
        "return_owner_id (a marketing owner), or keep it",
    )
    return_owner_id: str | None = Field(None, pattern=r"^[0-9]{1,20}$")
    lead_id_property: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_]{0,99}$",
        description="A custom contact property (create it in HubSpot first) to hold the "
        "Leadfarm lead id; activities are matched by it too",
    )
    call_outcomes: dict[str, ActivityOutcome] = Field(
        default_factory=dict,
        description="hs_call_disposition id -> Leadfarm outcome, for your own call "
        "outcomes (HubSpot's defaults are known)",
    )
    max_clock_skew_s: int = Field(300, ge=30, le=900)
    public_base_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="The scheme and host HubSpot calls, when a proxy in front of Leadfarm "
        "changes them (the signature covers the URL)",
    )

    @model_validator(mode="after")
    def _return_owner(self) -> HubSpotSettings:
        if self.on_return == "set_owner" and self.return_owner_id is None:
            raise ValueError("return_owner_id is required when on_return is set_owner")
        return self


class HubSpotCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_token: str = Field(
        min_length=8,
        max_length=500,
        description="A private app's access token (scopes: crm.objects.contacts.read, "
        "crm.objects.contacts.write, crm.objects.owners.read; crm.objects.companies.read "
        "to sync account owners)",
    )
    client_secret: str | None = Field(
        None,
        min_length=8,
        max_length=500,
        description="The app's client secret, which signs its webhooks (activities in)",
    )


class HubSpot(Connector, TakesActivities, SyncsAccounts):
    kind = "hubspot"
    settings_model: ClassVar[type[BaseModel]] = HubSpotSettings
    credentials_model: ClassVar[type[BaseModel]] = HubSpotCredentials
    event_types = frozenset({ASSIGNED, REASSIGNED, RETURNED})

    def api_base_url(self, settings: BaseModel) -> str | None:
        assert isinstance(settings, HubSpotSettings)
        return settings.api_base_url

    # --- out ----------------------------------------------------------------------------

    async def deliver(self, delivery: Delivery, target: Target, http: httpx.AsyncClient) -> Written:
        settings, credentials = target.settings, target.credentials
        assert isinstance(settings, HubSpotSettings)
        assert isinstance(credentials, HubSpotCredentials)
        event = orjson.loads(delivery.payload)
        data: dict[str, Any] = event["data"]
        lead: dict[str, Any] = data.get("lead") or {}
        email = lead.get("email")
        if not email:
            raise VendorError(
                "the lead has no email, and HubSpot contacts are created or updated by email",
                permanent=True,
            )
        api = HubSpotApi(http, settings.api_base_url, credentials.access_token)
        properties = contact_properties(lead)
        if settings.lead_id_property:
            properties[settings.lead_id_property] = data["lead_id"]
        if event["type"] == RETURNED:
            owner = {"clear_owner": "", "set_owner": settings.return_owner_id, "keep_owner": None}[
                settings.on_return
            ]
            if owner is not None:
                properties["hubspot_owner_id"] = owner
            note_owner = settings.return_owner_id if settings.on_return == "set_owner" else None
            note = return_note(data)
        else:
            rep = target.reps.get(data["rep_id"])
            owner = (rep.crm_owner_ids.get("hubspot") if rep else None) or None
            if owner is None:
                raise VendorError(
                    f"rep {data['rep_id']!r} has no HubSpot owner id: set crm_owner_ids."
                    "hubspot on the rep (PATCH /router/v1/reps/{id}), then retry the delivery",
                    permanent=True,
                )
            properties["hubspot_owner_id"] = owner
            note_owner = owner
            note = assignment_note(data, rep.name if rep else data["rep_id"])
        contact_id = await api.upsert_contact(email, properties)
        await api.add_note(contact_id, note, event["timestamp"], note_owner)
        return Written(record_id=contact_id)

    # --- accounts -----------------------------------------------------------------------

    async def accounts(
        self, cursor: str | None, target: Target, http: httpx.AsyncClient
    ) -> AccountPage:
        """Companies modified after the cursor's time, oldest change first: HubSpot's CRM
        search (`hs_lastmodifieddate GT <ms>`, paged with its `after` token). The cursor is
        `<ms>` (a pass starts after that time) or `<ms>/<after>` (a pass under way); the
        last page of a pass gives the time of its last company, and the next request then
        finds nothing new (None: the pass is over)."""
        settings, credentials = target.settings, target.credentials
        assert isinstance(settings, HubSpotSettings)
        assert isinstance(credentials, HubSpotCredentials)
        since, after = _cursor(cursor)
        body: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": since}
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": list(COMPANY_PROPERTIES),
            "limit": COMPANIES_PER_PAGE,
        }
        if after:
            body["after"] = after
        api = HubSpotApi(http, settings.api_base_url, credentials.access_token)
        answer = await api._call("POST", "/crm/v3/objects/companies/search", json=body)
        results = [r for r in answer.get("results") or [] if isinstance(r, dict) and "id" in r]
        if not results:
            return AccountPage(accounts=[], next_cursor=None)
        last = int(since)
        found: list[CrmAccount] = []
        for company in results:
            props: dict[str, Any] = company.get("properties") or {}
            last = max(last, _epoch_ms(props.get("hs_lastmodifieddate")) or last)
            owner = props.get("hubspot_owner_id")
            found.append(
                CrmAccount(
                    external_id=str(company["id"]),
                    domain=_domain(props.get("domain")),
                    owner_id=str(owner) if owner else None,
                    name=str(props["name"]) if props.get("name") else None,
                )
            )
        following = str(((answer.get("paging") or {}).get("next") or {}).get("after") or "")
        if following and following.isdigit() and int(following) < SEARCH_RESULTS_LIMIT:
            return AccountPage(accounts=found, next_cursor=f"{since}/{following}")
        if following:
            # HubSpot's search pages stop at 10,000 results: go on from this page's last
            # change (one millisecond before it, so companies changed in the same
            # millisecond are read again rather than skipped).
            return AccountPage(accounts=found, next_cursor=str(last - 1))
        return AccountPage(accounts=found, next_cursor=str(last))

    # --- in -----------------------------------------------------------------------------

    def verify(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        received_at: datetime,
        target: Target,
    ) -> None:
        settings, credentials = target.settings, target.credentials
        assert isinstance(settings, HubSpotSettings)
        assert isinstance(credentials, HubSpotCredentials)
        from ingest.providers.base import Unauthorized

        if not credentials.client_secret:
            raise Unauthorized(
                f"connector {target.connector.id!r} has no client_secret, so HubSpot's "
                "signature cannot be checked; set credentials.client_secret to the app's "
                "client secret"
            )
        source = Source(
            name=target.connector.id,
            provider="hubspot",
            secrets={"client_secret": (credentials.client_secret,)},
            settings={
                "max_clock_skew_s": settings.max_clock_skew_s,
                "public_base_url": settings.public_base_url,
            },
            api_base_url=None,
            source_class="marketing",  # unused by verify
            campaign=None,
        )
        HUBSPOT_PROVIDER.verify(
            WebhookRequest(
                method=method,
                url=url,
                headers=headers,
                query={},
                body=body,
                content_type="application/json",
                received_at=received_at,
            ),
            source,
        )

    async def read(
        self, body: bytes, target: Target, http: httpx.AsyncClient
    ) -> list[InboundEvent]:
        settings, credentials = target.settings, target.credentials
        assert isinstance(settings, HubSpotSettings)
        assert isinstance(credentials, HubSpotCredentials)
        try:
            events = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadWebhook("", f"the body is not JSON: {exc}") from None
        if not isinstance(events, list):
            raise BadWebhook("", "expected a JSON array of HubSpot webhook events")
        api = HubSpotApi(http, settings.api_base_url, credentials.access_token)
        outcomes = {**DEFAULT_CALL_OUTCOMES, **settings.call_outcomes}
        # Read the whole body first (a malformed event refuses the webhook before any call
        # to HubSpot), then fetch its activities a few at a time: HubSpot batches up to 100
        # events per webhook and waits only seconds for the answer.
        wanted: list[tuple[int, str, str, str]] = []
        ignored: list[InboundEvent] = []
        for index, event in enumerate(events):
            if not isinstance(event, dict):
                raise BadWebhook(f"{index}", "each event must be a JSON object")
            event_id = _id(event.get("eventId"), f"{index}/eventId")
            kind = event.get("subscriptionType")
            type_id = str(event.get("objectTypeId", ""))
            if kind not in ACTIVITY_EVENTS or type_id not in OBJECT_PATHS:
                ignored.append(
                    InboundEvent(index, event_id, ignored=f"{kind} of object type {type_id or '?'}")
                )
                continue
            wanted.append(
                (index, event_id, type_id, _id(event.get("objectId"), f"{index}/objectId"))
            )
        slots = asyncio.Semaphore(FETCHES_AT_ONCE)

        async def fetch(index: int, event_id: str, type_id: str, object_id: str) -> InboundEvent:
            async with slots:
                try:
                    found = await api.activity(OBJECT_PATHS[type_id], object_id)
                except VendorError as exc:
                    if exc.status != 404:
                        raise
                    return InboundEvent(index, event_id, ignored=f"{exc.message} (deleted)")
                activity = await _activity(api, settings, outcomes, type_id, object_id, found)
                return InboundEvent(index, event_id, activity=activity)

        fetched = await asyncio.gather(*(fetch(*w) for w in wanted))
        return sorted([*ignored, *fetched], key=lambda e: e.index)


async def _activity(
    api: HubSpotApi,
    settings: HubSpotSettings,
    outcomes: Mapping[str, ActivityOutcome],
    type_id: str,
    object_id: str,
    found: dict[str, Any],
) -> InboundActivity:
    props: dict[str, Any] = found.get("properties") or {}
    contacts = ((found.get("associations") or {}).get("contacts") or {}).get("results") or []
    record_ids = tuple(str(c["id"]) for c in contacts if isinstance(c, dict) and "id" in c)
    if type_id == CALLS:
        channel = "call"
        outcome: str = outcomes.get(str(props.get("hs_call_disposition") or ""), "other")
        kind = "call"
    else:
        channel = "email"
        outcome = EMAIL_OUTCOMES.get(str(props.get("hs_email_direction") or ""), "other")
        kind = "email"
    emails: list[str] = []
    lead_ids: list[str] = []
    for contact_id in record_ids[:10]:
        try:
            contact = await api.contact(contact_id, settings.lead_id_property)
        except VendorError as exc:
            if exc.status != 404:
                raise
            continue  # deleted or merged away since: nothing to match on
        cprops = contact.get("properties") or {}
        if cprops.get("email"):
            emails.append(str(cprops["email"]).strip().lower())
        if settings.lead_id_property and cprops.get(settings.lead_id_property):
            lead_ids.append(str(cprops[settings.lead_id_property]))
    owner = props.get("hubspot_owner_id")
    return InboundActivity(
        external_id=f"{kind}:{object_id}",
        channel=channel,
        outcome=outcome,
        owner_id=str(owner) if owner else None,
        record_ids=record_ids,
        emails=tuple(emails),
        lead_ids=tuple(lead_ids),
        note=f"HubSpot {kind} {object_id}",
    )


def _cursor(cursor: str | None) -> tuple[str, str | None]:
    """(since, after) of an account sync's cursor: `<ms>` or `<ms>/<after>`."""
    if not cursor:
        return "0", None
    since, _, after = cursor.partition("/")
    if not since.isdigit() or (after and not after.isdigit()):
        raise VendorError(
            f"the account sync's cursor {cursor!r} is not a HubSpot one; run a full sync "
            '(POST .../accounts-sync {"full": true})',
            permanent=True,
        )
    return since, after or None


def _epoch_ms(value: Any) -> int | None:
    """HubSpot's datetime property (ISO 8601, or epoch milliseconds) in milliseconds."""
    text = str(value or "")
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return None


def _domain(value: Any) -> str:
    """A company's `domain` as `PUT /router/v1/accounts/{domain}` takes it: lower case, no
    scheme, path, port or `www.` ("" when it has none)."""
    text = str(value or "").strip().lower()
    text = text.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    return text.removeprefix("www.").strip(".")


def _id(value: Any, field: str) -> str:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not _ID.match(text):
        raise BadWebhook(field, "missing or not a HubSpot id")
    return text


CONNECTOR = HubSpot()
