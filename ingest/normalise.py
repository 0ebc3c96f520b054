"""Normalising what people type into forms: email, phone (E.164), names, company domain,
country."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_DOMAIN = re.compile(r"^(?:[a-z]+://)?(?:www\.)?([^/:?#\s]+)", re.IGNORECASE)


def email(raw: str | None) -> tuple[str | None, str | None]:
    """(normalised address, problem). Addresses are case-insensitive in practice."""
    if raw is None or not raw.strip():
        return None, None
    candidate = unicodedata.normalize("NFC", raw.strip()).lower()
    try:
        validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, str(exc)
    return candidate, None


def phone(raw: str | None, country: str | None) -> tuple[str | None, str | None]:
    """(E.164 number, problem). The lead's country is the hint for national numbers."""
    if raw is None or not raw.strip():
        return None, None
    try:
        parsed = phonenumbers.parse(raw.strip(), (country or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        return None, f"not a phone number ({exc})"
    if not phonenumbers.is_possible_number(parsed):
        return None, "not a possible phone number for its country"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None


def text(raw: str | None) -> str | None:
    if raw is None:
        return None
    cleaned = " ".join(unicodedata.normalize("NFC", raw).split())
    return cleaned or None


def country(raw: str | None) -> str | None:
    value = text(raw)
    if value and len(value) == 2 and value.isalpha():
        return value.upper()
    return None


def domain(website: str | None, email_address: str | None) -> str | None:
    if website:
        match = _DOMAIN.match(website.strip())
        if match:
            return match.group(1).lower()
    if email_address and "@" in email_address:
        return email_address.rsplit("@", 1)[1]
    return None
