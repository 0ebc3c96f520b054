"""A local fake of Salesforce's OAuth 2.0 token endpoint and REST API, for the Salesforce
connector's tests.

It answers only the requests Salesforce documents and checks each exactly:

- `POST /services/oauth2/token`, a form (`application/x-www-form-urlencoded`): the client
  credentials grant (`client_id`, `client_secret`), or the JWT bearer grant, whose
  `assertion` must verify with the app's certificate's public key (RS256) and carry
  `iss` = the consumer key, `sub` = the integration user, `aud` = the expected audience and
  an `exp` at most three minutes ahead; it answers `access_token` and `instance_url`;
- `/services/data/vNN.N/...` with `Authorization: Bearer <token>` (else 401
  `INVALID_SESSION_ID`), JSON bodies with `Content-Type: application/json`: the Lead
  upserts (`PATCH sobjects/Lead/{ExternalIdField}/{value}`, `PATCH sobjects/Lead/{Id}`,
  `POST sobjects/Lead`) with Lead's required fields (LastName, Company), owners it knows
  and fields that exist, running the org's lead assignment rule (`assignment_rule_owner`)
  unless `Sforce-Auto-Assign: FALSE` says not to, as the REST API does; the SOQL queries
  the connector makes (a Lead by email, Accounts changed since a time) with
  `nextRecordsUrl` pages of `Sforce-Query-Options: batchSize`.

Errors are Salesforce's JSON list `[{"message", "errorCode", "fields"}]`. A test can make it
fail (`fail_next`), expire the tokens (`expire_tokens`), log Tasks and Events as a rep would
and get the signed webhook the documented Apex posts (`webhook`: Standard Webhooks, computed
here with hmac, independently of Leadfarm's code).

Served with the tests' `serve_api` (uvicorn on a free port, in a thread), so its state is
guarded by a lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API = "/services/data/{version:str}"
LEAD_FIELDS = {
    "FirstName",
    "LastName",
    "Company",
    "Email",
    "Phone",
    "Title",
    "Industry",
    "NumberOfEmployees",
    "Country",
    "LeadSource",
    "OwnerId",
    "Description",
}
_EMAIL_QUERY = re.compile(
    r"^SELECT Id FROM Lead WHERE Email = '((?:[^'\\]|\\.)*)' AND IsConverted = false "
    r"ORDER BY CreatedDate LIMIT 1$"
)
_ACCOUNT_QUERY = re.compile(
    r"^SELECT Id, Name, Website, OwnerId, LastModifiedDate FROM Account"
    r"(?: WHERE LastModifiedDate > (\S+) OR \(LastModifiedDate = (\S+) AND Id > '(\w+)'\))?"
    r" ORDER BY LastModifiedDate, Id$"
)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    """JSON bodies parsed; the token endpoint's form as a dict."""


def salesforce_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}AAA"


@dataclass
class FakeSalesforce:
    client_id: str
    client_secret: str | None = None
    public_key: str | None = None
    """The certificate's public key (PEM), for the JWT bearer flow."""
    username: str | None = None
    audience: str | None = None
    users: set[str] = field(default_factory=set)
    """User and queue ids (OwnerId values) the org has."""
    external_id_fields: set[str] = field(default_factory=set)
    custom_fields: set[str] = field(default_factory=set)
    assignment_rule_owner: str | None = None
    """The owner the org's active lead assignment rule gives: applied, as the REST API
    does, to a Lead created or updated without `Sforce-Auto-Assign: FALSE`."""
    base: str = ""
    """Where it is served (its instance_url); set by the test once served."""
    leads: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    locators: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- what a test does --------------------------------------------------------------

    def fail_next(
        self, status: int, times: int = 1, code: str = "SERVER_UNAVAILABLE", message: str = ""
    ) -> None:
        with self._lock:
            self.failures += [(status, code, message or f"{code.lower()} (fake)")] * times

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def requests(self, method: str, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == method and s.path == path]

    def lead_by_email(self, email: str) -> dict[str, Any] | None:
        with self._lock:
            return next((r for r in self.leads.values() if r.get("Email") == email), None)

    def add_lead(self, **fields: Any) -> str:
        with self._lock:
            lead_id = salesforce_id("00Q", next(self._ids))
            self.leads[lead_id] = {"Id": lead_id, "IsConverted": False, **fields}
            return lead_id

    def add_account(self, name: str, website: str | None, owner: str, modified: str) -> str:
        with self._lock:
            account_id = salesforce_id("001", next(self._ids))
            self.accounts.append(
                {
                    "attributes": {
                        "type": "Account",
                        "url": f"/services/data/v61.0/sobjects/Account/{account_id}",
                    },
                    "Id": account_id,
                    "Name": name,
                    "Website": website,
                    "OwnerId": owner,
                    "LastModifiedDate": modified,
                }
            )
            return account_id

    def task(
        self,
        who_id: str | None,
        owner_id: str,
        subtype: str,
        *,
        disposition: str | None = None,
        status: str = "Completed",
        who_email: str | None = None,
    ) -> dict[str, Any]:
        """A Task a rep logs (a call: subtype "Call"; an email: "Email"), as Apex's
        JSON.serialize writes the record the documented trigger queries."""
        task_id = salesforce_id("00T", next(self._ids))
        record: dict[str, Any] = {
            "attributes": {"type": "Task", "url": f"/services/data/v61.0/sobjects/Task/{task_id}"},
            "Id": task_id,
            "WhoId": who_id,
            "WhatId": None,
            "OwnerId": owner_id,
            "TaskSubtype": subtype,
            "Type": subtype,
            "Subject": f"{subtype} with the lead",
            "CallDisposition": disposition,
            "Status": status,
            "IsClosed": status == "Completed",
            "ActivityDate": "2026-01-05",
            "CreatedDate": "2026-01-05T09:00:00.000+0000",
        }
        if who_id and who_email:
            record["Who"] = {
                "attributes": {
                    "type": "Name",
                    "url": f"/services/data/v61.0/sobjects/Lead/{who_id}",
                },
                "Id": who_id,
                "Email": who_email,
            }
        return {k: v for k, v in record.items() if v is not None}

    def event(self, who_id: str, owner_id: str) -> dict[str, Any]:
        event_id = salesforce_id("00U", next(self._ids))
        return {
            "attributes": {
                "type": "Event",
                "url": f"/services/data/v61.0/sobjects/Event/{event_id}",
            },
            "Id": event_id,
            "WhoId": who_id,
            "OwnerId": owner_id,
            "Subject": "Meeting",
            "Type": "Meeting",
            "StartDateTime": "2026-01-06T09:00:00.000+0000",
            "EndDateTime": "2026-01-06T09:30:00.000+0000",
            "CreatedDate": "2026-01-05T09:00:00.000+0000",
        }

    @staticmethod
    def webhook(
        records: list[dict[str, Any]], secret: str, at: datetime, msg_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers the documented Apex posts: the records, signed as Standard
        Webhooks sign (v1, HMAC-SHA256 over "{id}.{timestamp}.{body}", the key being the
        base64-decoded part of the whsec_ secret)."""
        body = orjson.dumps(records)
        msg_id = msg_id or f"msg_{secrets.token_hex(8)}"
        timestamp = str(int(at.timestamp()))
        key = base64.b64decode(secret.removeprefix("whsec_"))
        mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        return body, {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        }

    # --- the API -------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/services/oauth2/token", self._token, methods=["POST"]),
                Route(f"{API}/query", self._query, methods=["GET"]),
                Route(f"{API}/query/{{locator:str}}", self._more, methods=["GET"]),
                Route(f"{API}/sobjects/Lead", self._create, methods=["POST"]),
                Route(f"{API}/sobjects/Lead/{{id:str}}", self._update, methods=["PATCH", "GET"]),
                Route(
                    f"{API}/sobjects/Lead/{{field:str}}/{{value:str}}",
                    self._upsert,
                    methods=["PATCH", "GET"],
                ),
            ]
        )

    def _record(
        self, request: Request, body: Any, *, may_fail: bool = True
    ) -> tuple[int, str, str] | None:
        """Record the request; the next failure asked for, if any (API requests only)."""
        with self._lock:
            self.seen.append(
                Seen(
                    request.method,
                    request.url.path,
                    dict(request.query_params),
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                )
            )
            return self.failures.pop(0) if self.failures and may_fail else None

    async def _token(self, request: Request) -> Response:
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "the body must be a form")
        pairs = parse_qsl(
            (await request.body()).decode(), keep_blank_values=True, strict_parsing=True
        )
        form = dict(pairs)
        self._record(request, form, may_fail=False)
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if set(form) != {"grant_type", "client_id", "client_secret"}:
                return _oauth_error(400, "invalid_request", f"unexpected fields {sorted(form)}")
            if form["client_id"] != self.client_id or form["client_secret"] != self.client_secret:
                return _oauth_error(400, "invalid_client", "invalid client credentials")
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            if set(form) != {"grant_type", "assertion"} or self.public_key is None:
                return _oauth_error(400, "invalid_request", f"unexpected fields {sorted(form)}")
            try:
                claims = jwt.decode(
                    form["assertion"],
                    self.public_key,
                    algorithms=["RS256"],
                    audience=self.audience,
                    issuer=self.client_id,
                    options={"require": ["iss", "sub", "aud", "exp"]},
                )
            except jwt.PyJWTError as exc:
                return _oauth_error(400, "invalid_grant", f"invalid assertion: {exc}")
            if claims["sub"] != self.username:
                return _oauth_error(400, "invalid_grant", "user hasn't approved this consumer")
            if claims["exp"] > time.time() + 180 + 5:
                return _oauth_error(400, "invalid_grant", "expiration is too far in the future")
        else:
            return _oauth_error(400, "unsupported_grant_type", f"grant type {grant} not supported")
        token = f"00D000000000001!{secrets.token_urlsafe(24)}"
        with self._lock:
            self.tokens.add(token)
        return JSONResponse(
            {
                "access_token": token,
                "instance_url": self.base,
                "id": f"{self.base}/id/00D000000000001AAA/005000000000001AAA",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "signature": "fake",
            }
        )

    async def _admit(self, request: Request) -> tuple[Any, Response | None]:
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                self._record(request, raw)
                return None, _error((400, "JSON_PARSER_ERROR", "the body is not JSON"))
        failure = self._record(request, body)
        if failure is not None:
            return None, _error(failure)
        authorization = request.headers.get("authorization", "")
        with self._lock:
            valid = authorization.removeprefix("Bearer ") in self.tokens
        if not authorization.startswith("Bearer ") or not valid:
            return None, _error((401, "INVALID_SESSION_ID", "Session expired or invalid"))
        if raw and request.headers.get("content-type") != "application/json":
            return None, _error((415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be JSON"))
        if request.method in ("PATCH", "POST") and not isinstance(body, dict):
            return None, _error((400, "JSON_PARSER_ERROR", "expected a JSON object"))
        return body, None

    def _check(self, fields: dict[str, Any], creating: bool) -> Response | None:
        unknown = [f for f in fields if f not in LEAD_FIELDS | self.custom_fields]
        if unknown:
            return _error(
                (400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type Lead"),
                unknown,
            )
        missing = [f for f in ("LastName", "Company") if creating and not fields.get(f)]
        if missing:
            return _error(
                (400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}"),
                missing,
            )
        owner = fields.get("OwnerId")
        if owner is not None and owner not in self.users:
            return _error(
                (400, "FIELD_INTEGRITY_EXCEPTION", "Owner ID: id value of incorrect type"),
                ["OwnerId"],
            )
        return None

    def _assigned(self, request: Request, fields: dict[str, Any]) -> dict[str, Any]:
        """The fields as saved: the assignment rule runs unless the request turned it off."""
        auto = request.headers.get("sforce-auto-assign", "TRUE").upper()
        if self.assignment_rule_owner and auto not in ("FALSE", "F"):
            return {**fields, "OwnerId": self.assignment_rule_owner}
        return fields

    async def _upsert(self, request: Request) -> Response:
        body, problem = await self._admit(request)
        if problem:
            return problem
        name, value = request.path_params["field"], request.path_params["value"]
        if name not in self.external_id_fields:
            return _error((404, "NOT_FOUND", f"Provided external ID field does not exist: {name}"))
        with self._lock:
            found = next((r for r in self.leads.values() if r.get(name) == value), None)
        if request.method == "GET":
            if found is None:
                return _error((404, "NOT_FOUND", "The requested resource does not exist"))
            return JSONResponse({"Id": found["Id"]})
        if name in body:
            return _error((400, "INVALID_FIELD", f"{name} is in the URL"), [name])
        problem = self._check(body, found is None)
        if problem:
            return problem
        body = self._assigned(request, body)
        with self._lock:
            if found is None:
                lead_id = salesforce_id("00Q", next(self._ids))
                self.leads[lead_id] = {"Id": lead_id, "IsConverted": False, name: value, **body}
                return JSONResponse(
                    {"id": lead_id, "success": True, "errors": [], "created": True},
                    status_code=201,
                )
            found.update(body)
        return JSONResponse({"id": found["Id"], "success": True, "errors": [], "created": False})

    async def _update(self, request: Request) -> Response:
        body, problem = await self._admit(request)
        if problem:
            return problem
        with self._lock:
            found = self.leads.get(request.path_params["id"])
        if found is None:
            return _error((404, "NOT_FOUND", "The requested resource does not exist"))
        if request.method == "GET":
            wanted = request.query_params.get("fields", "").split(",")
            unknown = [f for f in wanted if f not in LEAD_FIELDS | self.custom_fields | {"Id"}]
            if unknown:
                return _error((400, "INVALID_FIELD", f"No such column '{unknown[0]}'"), unknown)
            return JSONResponse(
                {
                    "attributes": {"type": "Lead"},
                    **{f: found.get(f) for f in wanted},
                }
            )
        problem = self._check(body, False)
        if problem:
            return problem
        with self._lock:
            found.update(self._assigned(request, body))
        return Response(status_code=204)

    async def _create(self, request: Request) -> Response:
        body, problem = await self._admit(request)
        if problem:
            return problem
        problem = self._check(body, True)
        if problem:
            return problem
        with self._lock:
            lead_id = salesforce_id("00Q", next(self._ids))
            self.leads[lead_id] = {
                "Id": lead_id,
                "IsConverted": False,
                **self._assigned(request, body),
            }
        return JSONResponse({"id": lead_id, "success": True, "errors": []}, status_code=201)

    async def _query(self, request: Request) -> Response:
        _, problem = await self._admit(request)
        if problem:
            return problem
        soql = request.query_params.get("q", "")
        by_email = _EMAIL_QUERY.match(soql)
        if by_email:
            email = re.sub(r"\\(.)", r"\1", by_email.group(1))
            with self._lock:
                found = [
                    {"attributes": {"type": "Lead"}, "Id": r["Id"]}
                    for r in self.leads.values()
                    if r.get("Email") == email and not r["IsConverted"]
                ][:1]
            return JSONResponse({"totalSize": len(found), "done": True, "records": found})
        accounts = _ACCOUNT_QUERY.match(soql)
        if accounts:
            since, same, after = accounts.groups()
            if since != same:
                return _error((400, "MALFORMED_QUERY", "the two times differ"))
            with self._lock:
                rows = sorted(self.accounts, key=lambda a: (_time(a), a["Id"]))
            if since:
                at = datetime.fromisoformat(since.replace("Z", "+00:00"))
                rows = [a for a in rows if (_time(a), a["Id"]) > (at, after)]
            return self._page(request, rows)
        return _error((400, "MALFORMED_QUERY", f"the fake does not know this query: {soql}"))

    def _page(self, request: Request, rows: list[dict[str, Any]]) -> Response:
        options = request.headers.get("sforce-query-options", "")
        size = int(options.removeprefix("batchSize=")) if options.startswith("batchSize=") else 2000
        page, rest = rows[:size], rows[size:]
        answer: dict[str, Any] = {"totalSize": len(rows), "done": not rest, "records": page}
        if rest:
            locator = f"01g{secrets.token_hex(6)}-{size}"
            with self._lock:
                self.locators[locator] = rest
            version = request.path_params["version"]
            answer["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}"
        return JSONResponse(answer)

    async def _more(self, request: Request) -> Response:
        _, problem = await self._admit(request)
        if problem:
            return problem
        with self._lock:
            rows = self.locators.pop(request.path_params["locator"], None)
        if rows is None:
            return _error((400, "INVALID_QUERY_LOCATOR", "invalid query locator"))
        return self._page(request, rows)


def _time(account: dict[str, Any]) -> datetime:
    return datetime.strptime(account["LastModifiedDate"], "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def _error(failure: tuple[int, str, str], fields: list[str] | None = None) -> Response:
    status, code, message = failure
    return JSONResponse(
        [{"message": message, "errorCode": code, "fields": fields or []}], status_code=status
    )


def _oauth_error(status: int, error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)
