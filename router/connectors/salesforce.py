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
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import httpx
import jwt
import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ingest.providers.base import Unauthorized
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
from router.schemas.leads import Outcome
from services import standard_webhooks

ASSIGNED = "leadfarm.lead.assigned.v1"
REASSIGNED = "leadfarm.lead.reassigned.v1"
RETURNED = "leadfarm.lead.returned.v1"

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a secret
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_S = 180
"""Salesforce refuses an assertion whose `exp` is more than three minutes ahead."""
SALESFORCE_HOSTS = (".salesforce.com", ".force.com", ".salesforce.mil", ".sfcrmproducts.cn")
"""Where a token's `instance_url` may point besides `login_url`'s own host: an answer from
anywhere else is refused, so a token endpoint cannot send the connector to another host."""

_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_API_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,79}$"
_ORIGIN = r"^https?://[^/?#\s]+$"
_PERMANENT_CODES = frozenset({"MULTIPLE_CHOICES"})
_RETRIED_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
"""Error codes a later attempt may succeed at, whatever their HTTP status."""
LEAD_PREFIX = "00Q"
"""The key prefix of Lead ids (a Task's WhoId may also be a Contact, 003)."""
FETCHES_AT_ONCE = 4
"""Salesforce requests in flight for one webhook."""
ACCOUNT_BATCH = 200
"""Records per page of the account query (`Sforce-Query-Options: batchSize`)."""
NOT_PROVIDED = "[not provided]"
"""What Salesforce's own Web-to-Lead writes in a required field the form did not have."""

# CallDisposition is free text (a dialer's or Sales Engagement's call result); these are
# the common ones, compared in lower case. settings.call_outcomes adds yours.
DEFAULT_CALL_OUTCOMES: dict[str, Outcome] = {
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
GENERIC_SUBTYPES = frozenset({"", "Task"})
"""A Task whose subtype says nothing: its `Type` picklist (Call, Email) decides."""


class SalesforceSettings(AccountSyncSettings):
    model_config = ConfigDict(extra="forbid")

    login_url: str = Field(
        pattern=_ORIGIN,
        description="Where the token is asked: your My Domain "
        "(https://yourco.my.salesforce.com; required by the client credentials flow), or "
        "https://login.salesforce.com / https://test.salesforce.com for the JWT bearer flow",
    )
    auth: Literal["client_credentials", "jwt_bearer"] = Field(
        "client_credentials",
        description="client_credentials (credentials.client_secret) or jwt_bearer "
        "(credentials.private_key and settings.username)",
    )
    username: str | None = Field(
        None,
        min_length=3,
        max_length=255,
        description="jwt_bearer: the integration user's username (the assertion's sub)",
    )
    audience: str | None = Field(
        None,
        pattern=_ORIGIN,
        description="jwt_bearer: the assertion's aud (default login_url; "
        "https://login.salesforce.com or https://test.salesforce.com with a My Domain "
        "login_url)",
    )
    api_version: str = Field("v61.0", pattern=r"^v[1-9][0-9]{1,2}\.0$")
    lead_id_field: str | None = Field(
        None,
        pattern=_API_NAME,
        description="An external id field on Lead holding the Leadfarm lead id (e.g. "
        "Leadfarm_Lead_Id__c): Leads are upserted by it, and activities matched by it; "
        "without it Leads are upserted by email",
    )
    why_field: str = Field(
        "Leadfarm_Why__c",
        pattern=_API_NAME,
        description="The Lead field that holds the routing explanation (a custom text "
        "area, or Description)",
    )
    why_max_length: int = Field(
        255, ge=40, le=131072, description="The why_field's length in Salesforce"
    )
    country_field: Literal["Country", "CountryCode"] | None = Field(
        "Country",
        description="Where the lead's ISO country code goes: CountryCode when State and "
        "Country/Territory Picklists are on, None to leave it out",
    )
    lead_source: str | None = Field(
        None, min_length=1, max_length=255, description="A LeadSource picklist value to set"
    )
    on_return: Literal["keep_owner", "set_owner"] = Field(
        "keep_owner",
        description="On lead.returned: keep the Lead's owner, or set it to return_owner_id "
        "(a marketing queue or user)",
    )
    return_owner_id: str | None = Field(None, pattern=_SALESFORCE_ID.pattern)
    call_outcomes: dict[str, Outcome] = Field(
        default_factory=dict,
        description="A Task's CallDisposition (any case) -> Leadfarm outcome, for your "
        "own call results (common ones are known)",
    )
    max_clock_skew_s: int = Field(300, ge=30, le=900)

    @model_validator(mode="after")
    def _consistent(self) -> SalesforceSettings:
        if self.on_return == "set_owner" and self.return_owner_id is None:
            raise ValueError("return_owner_id is required when on_return is set_owner")
        if self.auth == "jwt_bearer" and self.username is None:
            raise ValueError("username is required when auth is jwt_bearer")
        return self


class SalesforceCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(
        min_length=8, max_length=255, description="The app's consumer key (client id)"
    )
    client_secret: str | None = Field(
        None,
        min_length=8,
        max_length=255,
        description="client_credentials: the app's consumer secret",
    )
    private_key: str | None = Field(
        None,
        min_length=100,
        max_length=20000,
        description="jwt_bearer: the PEM RSA private key of the certificate uploaded to the app",
    )
    webhook_secret: str | None = Field(
        None,
        description="A Standard Webhooks secret (whsec_...) the Apex that posts activities "
        "signs with (activities in)",
    )

    @field_validator("private_key")
    @classmethod
    def _rsa_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                key = load_pem_private_key(value.encode(), password=None)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                raise ValueError("not a PEM private key without a passphrase") from None
            if not isinstance(key, RSAPrivateKey):
                raise ValueError("must be an RSA key (Salesforce signs with RS256)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: str | None) -> str | None:
        return None if value is None else standard_webhooks.check_secret(value)


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
        fields = _lead_fields(lead, settings)
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
            why = _why(data, rep.name if rep else data["rep_id"])
        fields[settings.why_field] = _truncated(why, settings.why_max_length)
        personal = ("Email", "Phone", "FirstName", "LastName")
        api = _Api(self, http, target, tuple(str(fields[k]) for k in personal if k in fields))
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
        answer = _json_object(response)
        if response.status_code != 200 or not answer.get("access_token"):
            # invalid_client, invalid_grant (a user not pre-authorised, a wrong certificate):
            # retried, as a 401 is, since fixed credentials heal them within the window.
            raise VendorError(
                f"Salesforce's token endpoint answered {response.status_code}: "
                f"{_errors(response)[1]}",
                status=response.status_code,
                permanent=response.status_code in (404, 405),
            )
        instance_url = str(answer.get("instance_url") or settings.login_url).rstrip("/")
        if not _may_call(instance_url, settings.login_url):
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
            _inbound(index, record, settings, outcomes) for index, record in enumerate(records)
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
        api = _Api(self, http, target)
        slots = asyncio.Semaphore(FETCHES_AT_ONCE)

        async def lead(lead_record_id: str) -> tuple[str, dict[str, Any]]:
            async with slots:
                return lead_record_id, await api.lead(lead_record_id, settings.lead_id_field)

        found = dict(await asyncio.gather(*(lead(w) for w in wanted)))
        return [_with_lead(e, found, settings) for e in events]

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
        api = _Api(self, http, target)
        since, last_id, locator = _cursor(cursor)
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
        accounts = [a for a in (_account(r) for r in records) if a is not None]
        last = records[-1]
        modified = _soql_datetime(str(last.get("LastModifiedDate") or ""))
        following = "" if answer.get("done", True) else str(answer.get("nextRecordsUrl") or "")
        next_cursor = f"{modified}|{last.get('Id')}" + (f"|{following}" if following else "")
        return AccountPage(accounts=accounts, next_cursor=next_cursor)


class _Api:
    """The Salesforce REST requests the connector makes, with a token kept by the kind and
    Salesforce's errors as `VendorError`s quoting its errorCode and message (never a
    query, which may hold an email)."""

    def __init__(
        self,
        kind: Salesforce,
        http: httpx.AsyncClient,
        target: Target,
        hidden: tuple[str, ...] = (),
    ) -> None:
        assert isinstance(target.settings, SalesforceSettings)
        self.kind = kind
        self.http = http
        self.target = target
        self.root = f"/services/data/{target.settings.api_version}"
        self.hidden = tuple(sorted({h for h in hidden if len(h) >= 3}, key=len, reverse=True))
        """The lead's personal data, taken out of Salesforce's messages (which may quote a
        value or the query) before they are stored on the delivery and logged."""

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        batch: int | None = None,
        what: str | None = None,
    ) -> dict[str, Any]:
        """`path` below the instance; `what` names the request in errors (default the
        method and path)."""
        session = await self.kind.session(self.target, self.http)
        for attempt in (1, 2):
            headers = {
                "authorization": f"Bearer {session.access_token}",
                "accept": "application/json",
            }
            if json is not None:
                headers["content-type"] = "application/json"
                # Without it the REST API runs the org's active lead assignment rule on
                # every create and update, which would replace the OwnerId routing chose.
                headers["sforce-auto-assign"] = "FALSE"
            if batch:
                headers["sforce-query-options"] = f"batchSize={batch}"
            try:
                response = await self.http.request(
                    method,
                    session.instance_url + path,
                    content=orjson.dumps(json) if json is not None else None,
                    params=params,
                    headers=headers,
                )
            except httpx.HTTPError as exc:
                raise VendorError(
                    f"Salesforce could not be reached: {type(exc).__name__}: {exc}"
                ) from None
            status = response.status_code
            if status == 401 and attempt == 1:
                session = await self.kind.session(self.target, self.http, stale=session)
                continue
            if 200 <= status < 300:
                return _json_object(response) if response.content else {}
            codes, message = _errors(response)
            for value in self.hidden:
                message = message.replace(value, "[lead data]")
            retry_after = response.headers.get("retry-after", "")
            retried = bool(codes & _RETRIED_CODES) or status in (401, 403, 408, 429)
            raise VendorError(
                f"Salesforce answered {status} to {what or method + ' ' + path}: {message}",
                status=status,
                permanent=(400 <= status < 500 or status == 300 or bool(codes & _PERMANENT_CODES))
                and not retried,
                retry_after_s=float(retry_after) if retry_after.isdigit() else None,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def lead(self, lead_id: str, lead_id_field: str | None) -> dict[str, Any]:
        """The Lead's email and Leadfarm lead id; {} when it is gone (deleted, merged)."""
        fields = "Id,Email" + (f",{lead_id_field}" if lead_id_field else "")
        try:
            return await self.call(
                "GET", f"{self.root}/sobjects/Lead/{lead_id}", params={"fields": fields}
            )
        except VendorError as exc:
            if exc.status == 404:
                return {}
            raise

    async def query(self, soql: str, *, batch: int | None = None) -> dict[str, Any]:
        return await self.call(
            "GET", f"{self.root}/query", params={"q": soql}, batch=batch, what="the query"
        )

    async def upsert_by_external_id(self, field: str, value: str, fields: dict[str, Any]) -> str:
        path = f"{self.root}/sobjects/Lead/{field}/{quote(value, safe='')}"
        answer = await self.call("PATCH", path, json=fields)
        if answer.get("id"):
            return str(answer["id"])
        # Before API v46.0 an update answers 204 with no body: ask for the Id.
        found = await self.call("GET", path, params={"fields": "Id"})
        return str(found.get("Id") or "")

    async def upsert_by_email(self, email: str, fields: dict[str, Any]) -> str:
        found = await self.query(
            f"SELECT Id FROM Lead WHERE Email = '{soql_quote(email)}' "  # noqa: S608 - quoted
            "AND IsConverted = false ORDER BY CreatedDate LIMIT 1"
        )
        records = found.get("records") or []
        if records and isinstance(records[0], dict) and records[0].get("Id"):
            lead_id = str(records[0]["Id"])
            await self.call("PATCH", f"{self.root}/sobjects/Lead/{lead_id}", json=fields)
            return lead_id
        created = await self.call("POST", f"{self.root}/sobjects/Lead", json=fields)
        if not created.get("id"):
            raise VendorError(f"Salesforce created no Lead: {str(created)[:300]}")
        return str(created["id"])


def soql_quote(value: str) -> str:
    """`value` for a SOQL string literal between single quotes (SOQL's escape sequences)."""
    escapes = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    escapes |= {"\b": "\\b", "\f": "\\f"}
    return "".join(escapes.get(c, c) for c in value)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _errors(response: httpx.Response) -> tuple[set[str], str]:
    """Salesforce's error body: [{"message", "errorCode", "fields"}], as its codes and
    "CODE: message (fields A, B)" lines."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return set(), response.text[:500] or "(no body)"
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return set(), response.text[:500]
    codes: set[str] = set()
    parts: list[str] = []
    for error in body[:5]:
        if not isinstance(error, dict):
            continue
        code = str(error.get("errorCode") or error.get("error") or "")
        codes.add(code)
        message = error.get("message") or error.get("error_description") or ""
        text = f"{code}: {message}"
        fields = error.get("fields")
        if isinstance(fields, list) and fields:
            text += f" (fields {', '.join(str(f) for f in fields)})"
        parts.append(text[:500])
    return codes, "; ".join(parts) or response.text[:500]


def _may_call(instance_url: str, login_url: str) -> bool:
    parts = urlsplit(instance_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        return False
    if parts.netloc == urlsplit(login_url).netloc:
        return True
    return parts.scheme == "https" and parts.hostname.endswith(SALESFORCE_HOSTS)


def _truncated(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lead_fields(lead: Mapping[str, Any], settings: SalesforceSettings) -> dict[str, Any]:
    """The Lead's standard fields from the profile. LastName and Company are required by
    Salesforce: the name's last word or the email's local part, and the email's domain,
    else "[not provided]" as Web-to-Lead writes."""
    email = str(lead.get("email") or "")
    full = str(lead.get("full_name") or "").split()
    last = lead.get("last_name") or (full[-1] if full else None) or email.partition("@")[0]
    first = lead.get("first_name") or (" ".join(full[:-1]) if len(full) > 1 else None)
    company = lead.get("company") or lead.get("company_domain") or email.partition("@")[2]
    fields: dict[str, Any] = {
        "LastName": _truncated(str(last or NOT_PROVIDED), 80),
        "Company": _truncated(str(company or NOT_PROVIDED), 255),
    }
    optional = {
        "FirstName": (first, 40),
        "Email": (email, 80),
        "Phone": (lead.get("phone") or lead.get("phone_raw"), 40),
        "Title": (lead.get("job_title"), 128),
        "NumberOfEmployees": (lead.get("employees"), 0),
    }
    for name, (value, limit) in optional.items():
        if value:
            fields[name] = value if limit == 0 else _truncated(str(value), limit)
    if settings.country_field and lead.get("country"):
        fields[settings.country_field] = str(lead["country"])
    if settings.lead_source:
        fields["LeadSource"] = settings.lead_source
    return fields


def _why(data: Mapping[str, Any], rep_name: str) -> str:
    what = "Reassigned" if data.get("from_rep_id") or data.get("reason") else "Assigned"
    text = f"{what} to {rep_name} by Leadfarm: {data.get('why') or 'no reason given'}"
    routing = [f"{k} {data[k]}" for k in ("rule", "pool", "strategy") if data.get(k)]
    if routing:
        text += f" ({', '.join(routing)})"
    if data.get("reason"):
        text += f". Reassigned because: {data['reason']}"
    if data.get("first_touch_due_at"):
        text += f". First touch due {data['first_touch_due_at']}"
    return text


def _inbound(
    index: int,
    record: Any,
    settings: SalesforceSettings,
    outcomes: Mapping[str, Outcome],
) -> InboundEvent:
    if not isinstance(record, dict):
        raise BadWebhook(f"{index}", "each record must be a JSON object (a Task or an Event)")
    record_id = record.get("Id")
    if not isinstance(record_id, str) or not _SALESFORCE_ID.match(record_id):
        raise BadWebhook(f"{index}/Id", "missing or not a Salesforce id")
    attributes = record.get("attributes")
    sobject = attributes.get("type") if isinstance(attributes, dict) else None
    if sobject not in ("Task", "Event"):
        raise BadWebhook(
            f"{index}/attributes/type",
            "must be Task or Event (JSON.serialize writes it from the record)",
        )
    owner = record.get("OwnerId")
    if owner is not None and (not isinstance(owner, str) or not _SALESFORCE_ID.match(owner)):
        raise BadWebhook(f"{index}/OwnerId", "not a Salesforce id")
    who = record.get("WhoId")
    if who is not None and (not isinstance(who, str) or not _SALESFORCE_ID.match(who)):
        raise BadWebhook(f"{index}/WhoId", "not a Salesforce id")
    if sobject == "Event":
        # A meeting on the calendar with the lead: they agreed to it, a connection.
        channel, outcome = "meeting", "meeting_booked"
    else:
        closed = record.get("IsClosed")
        if closed is False or (closed is None and record.get("Status") != "Completed"):
            return InboundEvent(
                index,
                record_id,
                ignored=f"an open Task (Status {record.get('Status')!r}): it counts once completed",
            )
        subtype = str(record.get("TaskSubtype") or "")
        kind = str(record.get("Type") or "") if subtype in GENERIC_SUBTYPES else subtype
        if kind == "Call":
            disposition = str(record.get("CallDisposition") or "").strip().lower()
            channel, outcome = "call", outcomes.get(disposition, "other")
        elif kind == "Email":
            channel, outcome = "email", "sent"
        else:
            return InboundEvent(
                index, record_id, ignored=f"a Task of subtype {subtype or kind or 'none'}"
            )
    who_record = record.get("Who") if isinstance(record.get("Who"), dict) else {}
    assert isinstance(who_record, dict)
    emails = (
        (str(who_record["Email"]).strip().lower(),)
        if isinstance(who_record.get("Email"), str) and who_record["Email"]
        else ()
    )
    lead_ids: tuple[str, ...] = ()
    if settings.lead_id_field and isinstance(who_record.get(settings.lead_id_field), str):
        lead_ids = (who_record[settings.lead_id_field],)
    subject = record.get("Subject")
    note = f"Salesforce {sobject} {record_id}" + (f": {subject}"[:300] if subject else "")
    return InboundEvent(
        index,
        record_id,
        activity=InboundActivity(
            external_id=f"{sobject.lower()}:{record_id}",
            channel=channel,
            outcome=outcome,
            owner_id=owner,
            record_ids=(who,) if who else (),
            emails=emails,
            lead_ids=lead_ids,
            note=note,
        ),
    )


def _with_lead(
    event: InboundEvent, leads: Mapping[str, Mapping[str, Any]], settings: SalesforceSettings
) -> InboundEvent:
    """The event, with the email and lead id Salesforce has on its Lead."""
    activity = event.activity
    if (
        activity is None
        or activity.emails
        or activity.lead_ids
        or not activity.record_ids
        or activity.record_ids[0] not in leads
    ):
        return event
    found = leads[activity.record_ids[0]]
    email = found.get("Email")
    lead_id = found.get(settings.lead_id_field) if settings.lead_id_field else None
    return replace(
        event,
        activity=replace(
            activity,
            emails=(email.strip().lower(),) if isinstance(email, str) and email else (),
            lead_ids=(lead_id,) if isinstance(lead_id, str) and lead_id else (),
        ),
    )


def _account(record: Mapping[str, Any]) -> CrmAccount | None:
    domain = website_domain(record.get("Website"))
    if domain is None or not record.get("Id"):
        return None
    owner = record.get("OwnerId")
    return CrmAccount(
        external_id=str(record["Id"]),
        domain=domain,
        owner_id=str(owner) if owner else None,
        name=str(record["Name"]) if record.get("Name") else None,
    )


def website_domain(website: Any) -> str | None:
    """An Account's Website as a domain: lower case, no scheme, port, path or `www.`;
    None when there is none."""
    if not isinstance(website, str) or not website.strip():
        return None
    text = website.strip().lower()
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".").removeprefix("www.")
    return host if "." in host and re.fullmatch(r"[a-z0-9.-]+", host) else None


def _soql_datetime(value: str) -> str:
    """Salesforce's `2026-01-05T09:00:00.000+0000` as a SOQL datetime literal in one of
    the forms SOQL documents, `2026-01-05T09:00:00Z` (Salesforce keeps whole seconds)."""
    try:
        at = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise VendorError(
                f"Salesforce answered an Account with LastModifiedDate {value[:40]!r}, which "
                "is not a time",
                permanent=True,
            ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cursor(cursor: str | None) -> tuple[str | None, str, str | None]:
    if not cursor:
        return None, "", None
    since, _, rest = cursor.partition("|")
    last_id, _, locator = rest.partition("|")
    if not re.fullmatch(r"[0-9T:.+\-Z]{10,40}", since) or not _SALESFORCE_ID.match(last_id):
        raise VendorError(
            f"the account cursor {cursor[:100]!r} is not one Salesforce's sync wrote",
            permanent=True,
        )
    if locator and not locator.startswith("/services/data/"):
        locator = ""
    return since, last_id, locator or None


CONNECTOR = Salesforce()
