"""From a provider's field names and answers to Leadfarm's lead fields.

Well-known names ("email", "Phone Number", "company_name", "Job title", ...) map by
themselves; a source's `field_map` names the rest. Whatever maps to nothing is kept as a
custom answer, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the adapters import this module; keep the registry out of its imports
    from ingest.providers.base import RawLead

LEAD_FIELDS = {
    "email",
    "phone",
    "first_name",
    "last_name",
    "full_name",
    "company",
    "website",
    "job_title",
    "industry",
    "employees",
    "country",
    "region",
    "language",
    "product_interest",
    "timeframe_days",
    "asked_to_be_contacted",
    "has_budget",
    "need",
    "consent_email",
}

ALIASES: dict[str, str] = {
    alias: target
    for target, names in {
        "email": [
            "email",
            "email_address",
            "e_mail",
            "work_email",
            "business_email",
            "user_email",
            "your_email",
        ],
        "phone": [
            "phone",
            "phone_number",
            "mobile",
            "mobile_phone",
            "mobile_number",
            "telephone",
            "tel",
            "work_phone",
            "work_phone_number",
            "cell",
            "phonenumber",
        ],
        "first_name": ["first_name", "firstname", "given_name", "fname", "forename"],
        "last_name": ["last_name", "lastname", "surname", "family_name", "lname"],
        "full_name": ["full_name", "fullname", "name", "your_name", "contact_name"],
        "company": [
            "company",
            "company_name",
            "organization",
            "organisation",
            "business_name",
            "employer",
            "account_name",
        ],
        "website": ["website", "company_website", "web_site", "url", "domain", "company_domain"],
        "job_title": ["job_title", "jobtitle", "title", "position", "role", "job_role"],
        "industry": ["industry", "sector", "vertical"],
        "employees": [
            "employees",
            "company_size",
            "number_of_employees",
            "employee_count",
            "num_employees",
            "numemployees",
        ],
        "country": ["country", "country_code", "country_region", "country_name"],
        "region": ["state", "province", "region", "state_province", "county"],
        "language": ["language", "preferred_language", "locale"],
        "product_interest": [
            "product_interest",
            "product",
            "products",
            "interest",
            "interested_in",
        ],
        "timeframe_days": [
            "timeframe",
            "timeframe_days",
            "purchase_timeframe",
            "buying_timeframe",
            "when_to_buy",
        ],
        "asked_to_be_contacted": [
            "asked_to_be_contacted",
            "contact_me",
            "request_contact",
            "contact_request",
            "call_me",
        ],
        "has_budget": ["has_budget", "budget_approved", "budget"],
        "need": ["need", "message", "comments", "comment", "how_can_we_help", "description"],
        "consent_email": [
            "consent_email",
            "email_consent",
            "marketing_consent",
            "opt_in",
            "optin",
            "gdpr_consent",
        ],
    }.items()
    for alias in names
}

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CLICK_ID_KEYS = ("gclid", "gbraid", "wbraid", "fbclid", "li_fat_id", "msclkid", "ttclid")
_TRUE = {"yes", "y", "true", "1", "on", "checked", "agree", "agreed", "ja", "oui", "si", "sí"}
_FALSE = {"no", "n", "false", "0", "off", "unchecked", "nein", "non"}
_UNITS = {"day": 1, "week": 7, "month": 30, "quarter": 90, "year": 365}


@lru_cache(maxsize=4096)
def key_of(name: str) -> str:
    """'Phone Number' -> 'phone_number'; 'What is your e-mail?' -> 'what_is_your_e_mail'.

    Remembered: a source's forms send the same few field names with every lead (a
    typeform lead asks for each one five times), and the same names stay bounded here."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def to_lead_fields(raw: RawLead, field_map: Mapping[str, str]) -> dict[str, Any]:
    """The lead fields (as the generic API takes them) of a provider's raw lead."""
    explicit = {key_of(k): v for k, v in {**raw.recognised, **field_map}.items()}
    out: dict[str, Any] = {}
    answers: dict[str, str] = {}
    utm: dict[str, str] = dict(raw.utm)
    for name, value in raw.fields.items():
        key = key_of(name)
        target = explicit.get(key) or ALIASES.get(key)
        if key in UTM_KEYS or key in CLICK_ID_KEYS:
            utm.setdefault(key, value)
        elif target in LEAD_FIELDS and target not in out:
            out[target] = value
        else:
            answers[name[:200]] = value
    for key, value in raw.click_ids.items():
        utm.setdefault(key, value)
    typed = {k: v for k, v in ((k, _typed(k, v)) for k, v in out.items()) if v is not None}
    if raw.consent_email is not None:
        typed["consent_email"] = raw.consent_email
    typed["answers"] = answers
    typed["utm"] = utm
    typed["is_test"] = raw.is_test
    return typed


def _typed(name: str, value: str) -> Any:
    value = value.strip() if isinstance(value, str) else value
    if name in ("asked_to_be_contacted", "has_budget", "consent_email"):
        return truthy(value)
    if name == "employees":
        return first_int(value)
    if name == "timeframe_days":
        return timeframe_days(value)
    if name == "product_interest":
        return [p.strip() for p in re.split(r"[,;|]", value) if p.strip()]
    return value or None


def truthy(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def first_int(value: str) -> int | None:
    """'51-200' -> 51, '1,000+' -> 1000: the lower bound of a size band."""
    match = re.search(r"\d[\d,.\s]*", value)
    if not match:
        return None
    digits = re.sub(r"\D", "", match.group(0).split("-")[0])
    return int(digits) if digits and len(digits) < 10 else None


def timeframe_days(value: str) -> int | None:
    """'30' -> 30, 'within 3 months' -> 90, '6-12 months' -> 180, 'next year' -> 365,
    'now'/'immediately' -> 0."""
    lowered = value.strip().lower()
    if not lowered:
        return None
    if re.fullmatch(r"[0-9]+", lowered):  # not isdigit(): it is true of '²', which int() refuses
        return min(int(lowered), 3650) if len(lowered) < 6 else None
    if any(w in lowered for w in ("now", "immediately", "asap", "urgent", "this week")):
        return 0
    match = re.search(r"(\d+)\s*(?:-|to)?\s*\d*\s*(day|week|month|quarter|year)", lowered)
    if match:
        return min(int(match.group(1)) * _UNITS[match.group(2)], 3650)
    for unit, days in _UNITS.items():
        if unit in lowered:
            return days
    return None
