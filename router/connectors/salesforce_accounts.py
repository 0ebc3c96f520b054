"""Salesforce's Accounts for the account sync: the owner by the Website's domain, the
cursor (LastModifiedDate, Id, and a query locator) a page at a time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from router.connectors.base import (
    CrmAccount,
    VendorError,
)
from router.connectors.salesforce_ids import SALESFORCE_ID


def account_of(record: Mapping[str, Any]) -> CrmAccount | None:
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


def soql_datetime(value: str) -> str:
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


def cursor_parts(cursor: str | None) -> tuple[str | None, str, str | None]:
    if not cursor:
        return None, "", None
    since, _, rest = cursor.partition("|")
    last_id, _, locator = rest.partition("|")
    if not re.fullmatch(r"[0-9T:.+\-Z]{10,40}", since) or not SALESFORCE_ID.match(last_id):
        raise VendorError(
            f"the account cursor {cursor[:100]!r} is not one Salesforce's sync wrote",
            permanent=True,
        )
    if locator and not locator.startswith("/services/data/"):
        locator = ""
    return since, last_id, locator or None
