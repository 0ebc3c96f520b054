"""Salesforce: Leads and their owners out; calls, emails and meetings in; accounts synced.

Out, through Salesforce's REST API with an OAuth 2.0 token of a Connected App (or External
Client App), asked at `settings.login_url` (`POST /services/oauth2/token`) by the **client
credentials** flow (`client_secret`) or the **JWT bearer** flow (an RS256 assertion signed
with the app's certificate's `private_key`); the token's `instance_url` is where the API is
called. The token is kept in memory per connector and asked again once when Salesforce
answers 401 (`INVALID_SESSION_ID`: expired or revoked).

- `lead.assigned` and `lead.reassigned`: the Lead is upserted with `OwnerId` = the rep's
  Salesforce user id (`crm_owner_ids.salesforce`) and the routing explanation in
  `settings.why_field`: by the external id field `settings.lead_id_field` (holding the
  Leadfarm lead id) in one request, `PATCH /sobjects/Lead/{field}/{lead id}`; without one,
  by email (a SOQL query, then `PATCH /sobjects/Lead/{Id}` or `POST /sobjects/Lead`).
- `lead.returned`: the same upsert, the owner set to `settings.return_owner_id` (a queue or
  user) or kept (`settings.on_return`); Salesforce has no Lead without an owner.

In, through a signed webhook an Apex trigger (or a flow calling an invocable Apex action)
posts with the Task and Event records reps log (docs/integrations.md, "Salesforce"): the
body is the records as Apex's `JSON.serialize` writes them, signed as Standard Webhooks sign
(services/standard_webhooks.py), which Apex computes with `Crypto.generateMac`.

Accounts: `SELECT Id, Name, Website, OwnerId, LastModifiedDate FROM Account` changed since
a cursor, in `LastModifiedDate, Id` order, a page (`nextRecordsUrl`) at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import httpx
import jwt
import orjson
from pydantic import BaseModel

from ingest.providers.base import Unauthorized
from router.connectors.base import (
    AccountPage,
    BadWebhook,
    Connector,
    Delivery,
    InboundEvent,
    SyncsAccounts,
    TakesActivities,
    Target,
    VendorError,
    Written,
)
from router.connectors.salesforce_accounts import account_of, cursor_parts, soql_datetime
from router.connectors.salesforce_api import (
    SalesforceApi,
    errors_of,
    json_object,
    may_call,
    soql_quote,
)
from router.connectors.salesforce_inbound import inbound_activity, with_lead
from router.connectors.salesforce_leads import lead_fields, truncated, why_text
from router.connectors.salesforce_settings import SalesforceCredentials, SalesforceSettings
from router.records import ActivityOutcome
from services import standard_webhooks

ASSIGNED = "leadfarm.lead.assigned.v1"
REASSIGNED = "leadfarm.lead.reassigned.v1"
RETURNED = "leadfarm.lead.returned.v1"

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a secret
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_S = 180
"""Salesforce refuses an assertion whose `exp` is more than three minutes ahead."""

LEAD_PREFIX = "00Q"
"""The key prefix of Lead ids (a Task's WhoId may also be a Contact, 003)."""
FETCHES_AT_ONCE = 4
"""Salesforce requests in flight for one webhook."""
ACCOUNT_BATCH = 200
"""Records per page of the account query (`Sforce-Query-Options: batchSize`)."""

# CallDisposition is free text (a dialer's or Sales Engagement's call result); these are
# the common ones, compared in lower case. settings.call_outcomes adds yours.
DEFAULT_CALL_OUTCOMES: dict[str, ActivityOutcome] = {
    "connected": "connected",
    "meaningful connect": "connected",
    "answered": "connected",
    "no answer": "no_answer",
    "busy": "no_answer",
    "left voicemail": "voicemail",
    "voicemail": "voicemail",
    "wrong number": "bad_number",
    "bad number": "bad_number",
    "not interested": "not_interested",
    "meeting booked": "meeting_booked",
    "meeting scheduled": "meeting_booked",
}


@dataclass(frozen=True)
class _Session:
    fingerprint: str
    access_token: str
    instance_url: str


class Salesforce(Connector, TakesActivities, SyncsAccounts):
    kind = "salesforce"
    settings_model: ClassVar[type[BaseModel]] = SalesforceSettings
    credentials_model: ClassVar[type[BaseModel]] = SalesforceCredentials
    event_types = frozenset({ASSIGNED, REASSIGNED, RETURNED})
    api_base_setting = "login_url"

    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def api_base_url(self, settings: BaseModel) -> str | None:
        assert isinstance(settings, SalesforceSettings)
        return settings.login_url

    def refused_field(self, index: int) -> str:
        return f"{index}.Id"

    def check(self, settings: BaseModel, credentials: BaseModel) -> list[tuple[str, str]]:
        assert isinstance(settings, SalesforceSettings)
        assert isinstance(credentials, SalesforceCredentials)
        if settings.auth == "client_credentials" and not credentials.client_secret:
            return [
                ("credentials.client_secret", "required when settings.auth is client_credentials")
            ]
        if settings.auth == "jwt_bearer" and not credentials.private_key:
            return [("credentials.private_key", "required when settings.auth is jwt_bearer")]
        return []

    # --- out ----------------------------------------------------------------------------

    async def deliver(self, delivery: Delivery, target: Target, http: httpx.AsyncClient) -> Written:
        settings = target.settings
        assert isinstance(settings, SalesforceSettings)
        event = orjson.loads(delivery.payload)
        data: dict[str, Any] = event["data"]
        lead: dict[str, Any] = data.get("lead") or {}
        fields = lead_fields(lead, settings)
        if event["type"] == RETURNED:
            if settings.on_return == "set_owner":
                fields["OwnerId"] = settings.return_owner_id
            why = f"Returned to marketing by Leadfarm: {data.get('reason') or ''}"
        else:
            rep = target.reps.get(data["rep_id"])
            owner = (rep.crm_owner_ids.get("salesforce") if rep else None) or None
            if owner is None:
                raise VendorError(
                    f"rep {data['rep_id']!r} has no Salesforce user id: set crm_owner_ids."
                    "salesforce on the rep (PATCH /router/v1/reps/{id}), then retry the delivery",
                    permanent=True,
                )
            fields["OwnerId"] = owner
            why = why_text(data, rep.name if rep else data["rep_id"])
        fields[settings.why_field] = truncated(why, settings.why_max_length)
        personal = ("Email", "Phone", "FirstName", "LastName")
        api = SalesforceApi(
            self, http, target, tuple(str(fields[k]) for k in personal if k in fields)
        )
        if settings.lead_id_field:
            record_id = await api.upsert_by_external_id(
                settings.lead_id_field, str(data["lead_id"]), fields
            )
        else:
            email = lead.get("email")
            if not email:
                raise VendorError(
                    "the lead has no email, and without settings.lead_id_field Salesforce "
                    "Leads are upserted by email",
                    permanent=True,
                )
            record_id = await api.upsert_by_email(str(email), fields)
        return Written(record_id=record_id)

    # --- the token ----------------------------------------------------------------------

    async def session(
        self, target: Target, http: httpx.AsyncClient, *, stale: _Session | None = None
    ) -> _Session:
        """The connector's token, asked once and kept; asked again when `stale` (the one a
        401 answered) is still the one kept, or the configuration changed."""
        settings = target.settings
        assert isinstance(settings, SalesforceSettings)
        connector_id = target.connector.id
        fingerprint = hashlib.sha256(
            orjson.dumps([target.connector.credentials, settings.model_dump(mode="json")])
        ).hexdigest()
        # Keyed by the configuration too: a lock is never shared by two configurations
        # (nor by two event loops, a new runtime in the same process sealing anew).
        lock = self._locks.setdefault(f"{connector_id}:{fingerprint}", asyncio.Lock())
        async with lock:
            kept = self._sessions.get(connector_id)
            if kept is not None and kept.fingerprint == fingerprint and kept != stale:
                return kept
            fresh = await self._ask_token(target, http, fingerprint)
            self._sessions[connector_id] = fresh
            return fresh

    async def _ask_token(
        self, target: Target, http: httpx.AsyncClient, fingerprint: str
    ) -> _Session:
        settings, credentials = target.settings, target.credentials
        assert isinstance(settings, SalesforceSettings)
        assert isinstance(credentials, SalesforceCredentials)
        if settings.auth == "jwt_bearer":
            if not credentials.private_key or not settings.username:
                raise VendorError(
                    "jwt_bearer needs credentials.private_key and settings.username",
                    permanent=True,
                )
            assertion = jwt.encode(
                {
                    "iss": credentials.client_id,
                    "sub": settings.username,
                    "aud": settings.audience or settings.login_url,
                    "exp": int(time.time()) + JWT_LIFETIME_S,
                },
                credentials.private_key,
                algorithm="RS256",
            )
            form = {"grant_type": JWT_BEARER, "assertion": assertion}
        else:
            if not credentials.client_secret:
                raise VendorError(
                    "client_credentials needs credentials.client_secret", permanent=True
                )
            form = {
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            }
        try:
            response = await http.post(
                settings.login_url.rstrip("/") + TOKEN_PATH,
                data=form,
                headers={"accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise VendorError(
                f"Salesforce's token endpoint could not be reached: {type(exc).__name__}: {exc}"
            ) from None
        answer = json_object(response)
        if response.status_code != 200 or not answer.get("access_token"):
            # invalid_client, invalid_grant (a user not pre-authorised, a wrong certificate):
            # retried, as a 401 is, since fixed credentials heal them within the window.
            raise VendorError(
                f"Salesforce's token endpoint answered {response.status_code}: "
                f"{errors_of(response)[1]}",
                status=response.status_code,
                permanent=response.status_code in (404, 405),
            )
        instance_url = str(answer.get("instance_url") or settings.login_url).rstrip("/")
        if not may_call(instance_url, settings.login_url):
            raise VendorError(
                f"Salesforce's token answer names instance_url {instance_url!r}, which is "
                "neither login_url's host nor a Salesforce domain; refused",
                permanent=True,
            )
        return _Session(fingerprint, str(answer["access_token"]), instance_url)

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
        assert isinstance(settings, SalesforceSettings)
        assert isinstance(credentials, SalesforceCredentials)
        if not credentials.webhook_secret:
            raise Unauthorized(
                f"connector {target.connector.id!r} has no webhook_secret, so the signature "
                "cannot be checked; set credentials.webhook_secret (whsec_...) and sign "
                "with it in Salesforce"
            )
        try:
            standard_webhooks.verify(
                credentials.webhook_secret, headers, body, received_at, settings.max_clock_skew_s
            )
        except standard_webhooks.BadSignature as exc:
            raise Unauthorized(f"{exc} (the secret is credentials.webhook_secret)") from None

    async def read(
        self, body: bytes, target: Target, http: httpx.AsyncClient
    ) -> list[InboundEvent]:
        settings = target.settings
        assert isinstance(settings, SalesforceSettings)
        try:
            records = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadWebhook("", f"the body is not JSON: {exc}") from None
        if not isinstance(records, list):
            raise BadWebhook(
                "", "expected a JSON array of Task and Event records (JSON.serialize(records))"
            )
        outcomes = {
            **DEFAULT_CALL_OUTCOMES,
            **{k.strip().lower(): v for k, v in settings.call_outcomes.items()},
        }
        # Read the whole body first (a malformed record refuses the webhook before any call
        # to Salesforce), then ask Salesforce about the Leads the body says nothing of.
        events = [
            inbound_activity(index, record, settings, outcomes)
            for index, record in enumerate(records)
        ]
        wanted = sorted(
            {
                e.activity.record_ids[0]
                for e in events
                if e.activity is not None
                and not (e.activity.emails or e.activity.lead_ids)
                and e.activity.record_ids
                and e.activity.record_ids[0].startswith(LEAD_PREFIX)
            }
        )
        if not wanted:
            return events
        api = SalesforceApi(self, http, target)
        slots = asyncio.Semaphore(FETCHES_AT_ONCE)

        async def lead(lead_record_id: str) -> tuple[str, dict[str, Any]]:
            async with slots:
                return lead_record_id, await api.lead(lead_record_id, settings.lead_id_field)

        found = dict(await asyncio.gather(*(lead(w) for w in wanted)))
        return [with_lead(e, found, settings) for e in events]

    # --- accounts -----------------------------------------------------------------------

    async def accounts(
        self, cursor: str | None, target: Target, http: httpx.AsyncClient
    ) -> AccountPage:
        """A page of accounts changed after `cursor`. The cursor is the last account read
        (`<LastModifiedDate>|<Id>`, the query's order), with the query's `nextRecordsUrl`
        while it has more: the next page follows it, or, once Salesforce has forgotten it
        (query locators last minutes), asks again from the last account. A pass ends
        with an empty page (next_cursor None): keep the last cursor for the next pass."""
        settings = target.settings
        assert isinstance(settings, SalesforceSettings)
        api = SalesforceApi(self, http, target)
        since, last_id, locator = cursor_parts(cursor)
        answer: dict[str, Any] | None = None
        if locator:
            try:
                answer = await api.call("GET", locator, batch=ACCOUNT_BATCH)
            except VendorError as exc:
                if "INVALID_QUERY_LOCATOR" not in exc.message and exc.status != 404:
                    raise
        if answer is None:
            soql = "SELECT Id, Name, Website, OwnerId, LastModifiedDate FROM Account"
            if since:
                # LastModifiedDate is a datetime literal (no quotes); Ids compare as strings.
                soql += (
                    f" WHERE LastModifiedDate > {since} OR "
                    f"(LastModifiedDate = {since} AND Id > '{soql_quote(last_id)}')"
                )
            soql += " ORDER BY LastModifiedDate, Id"
            answer = await api.query(soql, batch=ACCOUNT_BATCH)
        records = [r for r in answer.get("records") or [] if isinstance(r, dict)]
        if not records:
            return AccountPage(accounts=[], next_cursor=None)
        accounts = [a for a in (account_of(r) for r in records) if a is not None]
        last = records[-1]
        modified = soql_datetime(str(last.get("LastModifiedDate") or ""))
        following = "" if answer.get("done", True) else str(answer.get("nextRecordsUrl") or "")
        next_cursor = f"{modified}|{last.get('Id')}" + (f"|{following}" if following else "")
        return AccountPage(accounts=accounts, next_cursor=next_cursor)


CONNECTOR = Salesforce()
