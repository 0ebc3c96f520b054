"""A local fake of HubSpot's CRM v3 API and webhooks, for the HubSpot connector's tests.

It answers only the requests HubSpot documents, checks each exactly (the path, the Bearer
token, the content type, the JSON body's shape: an upsert's `inputs` with `idProperty:
email`, a note's `hs_timestamp` and its HUBSPOT_DEFINED association 202 to an existing
contact, owner ids HubSpot knows), answers as HubSpot does (its error body included), and
records every request. A test can make it fail (`fail_next`: a 503, a 429 with
Retry-After) and log a call or an email on a contact as a rep would in HubSpot, then have
it post the signed webhook HubSpot would (`webhook`: `X-HubSpot-Signature-v3`, computed
here independently of Leadfarm's code).

Served with the tests' `serve_api` (uvicorn on a free port, in a thread), so its state is
guarded by a lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

NOTE_TO_CONTACT = 202
CALL_TO_CONTACT = 194
EMAIL_TO_CONTACT = 198
CONNECTED = "f240bbac-87c9-4f6e-bf70-924b57d47db7"
NO_ANSWER = "73a0d17f-1163-4015-bdd5-ec830791da20"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeHubSpot:
    token: str
    client_secret: str
    owners: set[str]
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """By id: {"id", "properties"}."""
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Calls and emails by "calls/<id>" or "emails/<id>"."""
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    """By id: {"id", "properties"}; `hs_lastmodifieddate` as HubSpot gives it (ISO 8601)."""
    search_page_size: int | None = None
    """Fewer results per search page than asked (to make a test page with few companies)."""
    seen: list[Seen] = field(default_factory=list)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(501))
    _events: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _modified: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1_767_225_600_000, 1000)
    )

    # --- what a test does --------------------------------------------------------------

    def fail_next(
        self, status: int, times: int = 1, retry_after: str | None = None, *, after: int = 0
    ) -> None:
        """Fail the next `times` requests (once `after` more have been answered)."""
        headers = {"retry-after": retry_after} if retry_after else {}
        with self._lock:
            self.failures += [(0, {})] * after + [(status, headers)] * times

    def add_contact(self, email: str, **properties: str) -> str:
        """A contact created in HubSpot itself (not by Leadfarm)."""
        with self._lock:
            contact_id = str(next(self._ids))
            self.contacts[contact_id] = {
                "id": contact_id,
                "properties": {"email": email, **properties},
            }
            return contact_id

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        with self._lock:
            return next(
                (c for c in self.contacts.values() if c["properties"].get("email") == email),
                None,
            )

    def notes_of(self, contact_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [n for n in self.notes.values() if contact_id in n["contacts"]]

    def add_company(self, domain: str, owner_id: str | None, name: str = "") -> str:
        """A company created in HubSpot (each change is a second after the one before)."""
        with self._lock:
            company_id = str(next(self._ids))
            self.companies[company_id] = {"id": company_id, "properties": {}}
        self.change_company(
            company_id, domain=domain, name=name or domain, hubspot_owner_id=owner_id or ""
        )
        return company_id

    def change_company(self, company_id: str, **properties: str) -> None:
        with self._lock:
            stamp = datetime.fromtimestamp(next(self._modified) / 1000, UTC)
            iso = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            self.companies[company_id]["properties"].update(properties, hs_lastmodifieddate=iso)

    def requests(self, method: str, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == method and s.path == path]

    def log_activity(
        self, kind: str, contact_id: str, owner_id: str, properties: dict[str, str]
    ) -> str:
        """A rep logs a call (kind "calls") or an email ("emails") on a contact."""
        with self._lock:
            object_id = str(next(self._ids))
            self.activities[f"{kind}/{object_id}"] = {
                "id": object_id,
                "properties": {**properties, "hubspot_owner_id": owner_id},
                "contacts": [contact_id],
            }
            return object_id

    def webhook(
        self, url: str, kind: str, object_id: str, at: datetime, *, secret: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers HubSpot posts for the object's creation, signed (v3)."""
        type_id = {"calls": "0-48", "emails": "0-49"}[kind]
        event = {
            "eventId": next(self._events),
            "subscriptionId": 2001,
            "portalId": 62515,
            "appId": 54321,
            "occurredAt": int(at.timestamp() * 1000),
            "subscriptionType": "object.creation",
            "attemptNumber": 0,
            "objectId": int(object_id),
            "objectTypeId": type_id,
            "changeFlag": "CREATED",
            "changeSource": "CRM",
        }
        body = orjson.dumps([event])
        return body, self.sign("POST", url, body, at, secret=secret)

    def sign(
        self, method: str, url: str, body: bytes, at: datetime, *, secret: str | None = None
    ) -> dict[str, str]:
        timestamp = str(int(at.timestamp() * 1000))
        message = method.encode() + url.encode() + body + timestamp.encode()
        digest = hmac.new((secret or self.client_secret).encode(), message, hashlib.sha256).digest()
        return {
            "content-type": "application/json",
            "x-hubspot-signature-v3": base64.b64encode(digest).decode(),
            "x-hubspot-request-timestamp": timestamp,
        }

    # --- the API -------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/crm/v3/objects/contacts/batch/upsert", self._upsert, methods=["POST"]),
                Route("/crm/v3/objects/notes", self._create_note, methods=["POST"]),
                Route("/crm/v3/objects/contacts/{id}", self._get_contact, methods=["GET"]),
                Route("/crm/v3/objects/companies/search", self._search_companies, methods=["POST"]),
                Route("/crm/v3/objects/{kind}/{id}", self._get_activity, methods=["GET"]),
            ]
        )

    async def _admit(self, request: Request) -> tuple[Any, Response | None]:
        raw = await request.body()
        body: Any = None
        problem: Response | None = None
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                problem = _error(400, "Invalid input JSON", "VALIDATION_ERROR")
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
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None and failure[0]:
            status, headers = failure
            limited = status == 429
            message = "You have reached your secondly limit." if limited else "Service unavailable"
            category = "RATE_LIMITS" if limited else "INTERNAL_ERROR"
            return None, _error(status, message, category, headers)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return None, _error(
                401,
                "Authentication credentials not found.",
                "INVALID_AUTHENTICATION",
            )
        if request.method == "POST" and request.headers.get("content-type") != "application/json":
            return None, _error(415, "Unsupported media type", "VALIDATION_ERROR")
        return body, problem

    async def _upsert(self, request: Request) -> Response:
        body, problem = await self._admit(request)
        if problem:
            return problem
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            return _error(400, "inputs is required", "VALIDATION_ERROR")
        results = []
        now = datetime.now(UTC).isoformat()
        with self._lock:
            for item in inputs:
                if set(item) - {"idProperty", "id", "properties", "objectWriteTraceId"}:
                    return _error(400, f"unknown fields in {sorted(item)}", "VALIDATION_ERROR")
                if item.get("idProperty") != "email" or not item.get("id"):
                    return _error(400, "idProperty email and id are required", "VALIDATION_ERROR")
                properties = item.get("properties")
                if not isinstance(properties, dict) or not all(
                    isinstance(v, str) for v in properties.values()
                ):
                    return _error(400, "properties must be strings", "VALIDATION_ERROR")
                owner = properties.get("hubspot_owner_id")
                if owner and owner not in self.owners:
                    return _error(
                        400,
                        f"Property values were not valid: {owner} is not a valid owner id",
                        "VALIDATION_ERROR",
                    )
                email = str(item["id"]).lower()
                found = next(
                    (c for c in self.contacts.values() if c["properties"]["email"] == email),
                    None,
                )
                new = found is None
                if found is None:
                    found = {"id": str(next(self._ids)), "properties": {"email": email}}
                    self.contacts[found["id"]] = found
                found["properties"].update(properties)
                results.append(
                    {
                        "id": found["id"],
                        "properties": dict(found["properties"]),
                        "createdAt": now,
                        "updatedAt": now,
                        "archived": False,
                        "new": new,
                    }
                )
        return JSONResponse(
            {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        )

    async def _create_note(self, request: Request) -> Response:
        body, problem = await self._admit(request)
        if problem:
            return problem
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict) or not properties.get("hs_timestamp"):
            return _error(400, "hs_timestamp is required", "VALIDATION_ERROR")
        contacts = []
        for association in body.get("associations") or []:
            types = association.get("types")
            if types != [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]:
                return _error(400, f"invalid association types {types}", "VALIDATION_ERROR")
            to = str((association.get("to") or {}).get("id"))
            with self._lock:
                if to not in self.contacts:
                    return _error(404, f"contact {to} does not exist", "OBJECT_NOT_FOUND")
            contacts.append(to)
        with self._lock:
            note_id = str(next(self._ids))
            self.notes[note_id] = {"id": note_id, "properties": properties, "contacts": contacts}
        return JSONResponse({"id": note_id, "properties": properties}, status_code=201)

    async def _search_companies(self, request: Request) -> Response:
        """The CRM search, as much of it as a sync by modification time uses: one filter
        group of `hs_lastmodifieddate` filters (GT, GTE, LT, LTE in epoch milliseconds),
        one sort on it, `properties`, `limit` (at most 200) and the `after` offset."""
        body, problem = await self._admit(request)
        if problem:
            return problem
        if not isinstance(body, dict) or set(body) - {
            "filterGroups",
            "sorts",
            "properties",
            "limit",
            "after",
            "query",
        }:
            return _error(400, f"Invalid search request {body}", "VALIDATION_ERROR")
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            return _error(400, "limit must be between 1 and 200", "VALIDATION_ERROR")
        after = str(body.get("after") or "0")
        if not after.isdigit() or int(after) >= 10_000:
            return _error(400, "after must be an offset below 10000", "VALIDATION_ERROR")
        tests = {"GT": int.__gt__, "GTE": int.__ge__, "LT": int.__lt__, "LTE": int.__le__}
        filters: list[tuple[Any, int]] = []
        for group in body.get("filterGroups") or []:
            for item in group.get("filters") or []:
                value = str(item.get("value", ""))
                if (
                    item.get("propertyName") != "hs_lastmodifieddate"
                    or item.get("operator") not in tests
                    or not value.isdigit()
                ):
                    return _error(400, f"unsupported filter {item}", "VALIDATION_ERROR")
                filters.append((tests[item["operator"]], int(value)))
        sorts = body.get("sorts") or []
        if sorts not in (
            [],
            [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        ):
            return _error(400, f"unsupported sorts {sorts}", "VALIDATION_ERROR")
        wanted = body.get("properties") or ["name", "domain", "hs_lastmodifieddate"]

        def modified(company: dict[str, Any]) -> int:
            stamp = company["properties"]["hs_lastmodifieddate"]
            return int(datetime.fromisoformat(stamp).timestamp() * 1000)

        with self._lock:
            found = sorted(
                (
                    c
                    for c in self.companies.values()
                    if all(test(modified(c), value) for test, value in filters)
                ),
                key=lambda c: (modified(c), int(c["id"])),
            )
            size = min(limit, self.search_page_size or limit)
        start = int(after)
        page = found[start : start + size]
        answer: dict[str, Any] = {
            "total": len(found),
            "results": [
                {
                    "id": c["id"],
                    "properties": {
                        k: (v or None) for k, v in c["properties"].items() if k in wanted
                    },
                    "createdAt": c["properties"]["hs_lastmodifieddate"],
                    "updatedAt": c["properties"]["hs_lastmodifieddate"],
                    "archived": False,
                }
                for c in page
            ],
        }
        if start + size < len(found):
            answer["paging"] = {"next": {"after": str(start + size)}}
        return JSONResponse(answer)

    async def _get_contact(self, request: Request) -> Response:
        _, problem = await self._admit(request)
        if problem:
            return problem
        wanted = request.query_params.get("properties", "").split(",")
        with self._lock:
            contact = self.contacts.get(request.path_params["id"])
        if contact is None:
            return _error(404, "resource not found", "OBJECT_NOT_FOUND")
        properties = {k: v for k, v in contact["properties"].items() if k in wanted}
        return JSONResponse({"id": contact["id"], "properties": properties, "archived": False})

    async def _get_activity(self, request: Request) -> Response:
        _, problem = await self._admit(request)
        if problem:
            return problem
        kind = request.path_params["kind"]
        with self._lock:
            found = self.activities.get(f"{kind}/{request.path_params['id']}")
        if found is None:
            return _error(404, "resource not found", "OBJECT_NOT_FOUND")
        wanted = request.query_params.get("properties", "").split(",")
        answer: dict[str, Any] = {
            "id": found["id"],
            "properties": {k: v for k, v in found["properties"].items() if k in wanted},
            "archived": False,
        }
        if request.query_params.get("associations") == "contacts":
            type_name = "call_to_contact" if kind == "calls" else "email_to_contact"
            answer["associations"] = {
                "contacts": {"results": [{"id": c, "type": type_name} for c in found["contacts"]]}
            }
        return JSONResponse(answer)


def _error(
    status: int, message: str, category: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {
            "status": "error",
            "message": message,
            "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
            "category": category,
        },
        status_code=status,
        headers=headers,
    )
