"""Salesforce's REST API as the connector calls it, with the session's token: records by id
and by SOQL, upserts by an external id or by email; Salesforce's error codes decide what is
retried and what is refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from router.connectors.base import (
    Target,
    VendorError,
)
from router.connectors.salesforce_ids import SALESFORCE_HOSTS
from router.connectors.salesforce_settings import SalesforceSettings

if TYPE_CHECKING:
    from router.connectors.salesforce import Salesforce


_PERMANENT_CODES = frozenset({"MULTIPLE_CHOICES"})


_RETRIED_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
"""Error codes a later attempt may succeed at, whatever their HTTP status."""


class SalesforceApi:
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
                return json_object(response) if response.content else {}
            codes, message = errors_of(response)
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


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return answer if isinstance(answer, dict) else {}


def errors_of(response: httpx.Response) -> tuple[set[str], str]:
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


def may_call(instance_url: str, login_url: str) -> bool:
    parts = urlsplit(instance_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        return False
    if parts.netloc == urlsplit(login_url).netloc:
        return True
    return parts.scheme == "https" and parts.hostname.endswith(SALESFORCE_HOSTS)
