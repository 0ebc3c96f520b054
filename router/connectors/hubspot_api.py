"""HubSpot's API as the connector calls it, with the private app's token: contacts upserted
by email, notes on them, activities and contacts read; errors HubSpot says are permanent
are refused, the others retried."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from router.connectors.base import VendorError

_PERMANENT = frozenset({400, 404, 405, 409, 413, 415, 422})
"""Answers no retry changes (the request itself is wrong). 401 and 403 are retried: a
token fixed (or a scope granted) within the retry window heals them."""

NOTE_TO_CONTACT = 202
"""HubSpot's association type id of a note to a contact (HUBSPOT_DEFINED)."""


class HubSpotApi:
    """The few HubSpot CRM v3 requests the connector makes, with HubSpot's errors as
    `VendorError`s that quote HubSpot's answer."""

    def __init__(self, http: httpx.AsyncClient, base: str, token: str) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.headers = {
            "authorization": f"Bearer {token}",
            "accept": "application/json",
            "content-type": "application/json",
        }

    async def _call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self.http.request(
                method,
                self.base + path,
                content=orjson.dumps(json) if json is not None else None,
                params=params,
                headers=self.headers,
            )
        except httpx.HTTPError as exc:
            raise VendorError(
                f"HubSpot could not be reached: {type(exc).__name__}: {exc}"
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            try:
                answer = orjson.loads(response.content) if response.content else {}
            except orjson.JSONDecodeError:
                raise VendorError(
                    f"HubSpot answered {status} with a body that is not JSON"
                ) from None
            if not isinstance(answer, dict):
                raise VendorError(f"HubSpot answered {status} with a body that is not an object")
            return answer
        retry_after = response.headers.get("retry-after", "")
        raise VendorError(
            f"HubSpot answered {status} to {method} {path}: {vendor_message(response)}",
            status=status,
            permanent=status in _PERMANENT,
            retry_after_s=float(retry_after) if retry_after.isdigit() else None,
        )

    async def upsert_contact(self, email: str, properties: dict[str, str]) -> str:
        answer = await self._call(
            "POST",
            "/crm/v3/objects/contacts/batch/upsert",
            json={"inputs": [{"idProperty": "email", "id": email, "properties": properties}]},
        )
        results = answer.get("results") or []
        if not results or not isinstance(results[0], dict) or "id" not in results[0]:
            errors = answer.get("errors") or answer.get("message") or answer
            raise VendorError(f"HubSpot's upsert returned no contact: {str(errors)[:500]}")
        return str(results[0]["id"])

    async def add_note(self, contact_id: str, body: str, at: str, owner: str | None) -> str:
        properties = {"hs_timestamp": at, "hs_note_body": body}
        if owner:
            properties["hubspot_owner_id"] = owner
        answer = await self._call(
            "POST",
            "/crm/v3/objects/notes",
            json={
                "properties": properties,
                "associations": [
                    {
                        "to": {"id": contact_id},
                        "types": [
                            {
                                "associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": NOTE_TO_CONTACT,
                            }
                        ],
                    }
                ],
            },
        )
        return str(answer.get("id", ""))

    async def activity(self, path: str, object_id: str) -> dict[str, Any]:
        properties = (
            "hs_timestamp,hubspot_owner_id,hs_call_disposition,hs_call_direction,hs_call_status"
            if path == "calls"
            else "hs_timestamp,hubspot_owner_id,hs_email_direction,hs_email_status"
        )
        return await self._call(
            "GET",
            f"/crm/v3/objects/{path}/{object_id}",
            params={"properties": properties, "associations": "contacts"},
        )

    async def contact(self, contact_id: str, lead_id_property: str | None) -> dict[str, Any]:
        properties = "email" + (f",{lead_id_property}" if lead_id_property else "")
        return await self._call(
            "GET", f"/crm/v3/objects/contacts/{contact_id}", params={"properties": properties}
        )


def vendor_message(response: httpx.Response) -> str:
    """HubSpot's error body: {"status": "error", "message", "category", "correlationId"}."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:500] or "(no body)"
    if not isinstance(body, dict):
        return response.text[:500]
    parts = [str(body.get("message") or "")[:500]]
    for key in ("category", "correlationId"):
        if body.get(key):
            parts.append(f"{key} {body[key]}")
    return "; ".join(p for p in parts if p) or response.text[:500]
