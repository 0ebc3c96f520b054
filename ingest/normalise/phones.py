"""Normalising phone numbers to E.164, with the reason when a number cannot be read."""

from __future__ import annotations

import re

import phonenumbers

from ingest.normalise import text
from ingest.normalise.countries import country

# Far beyond any real value; caps the work a pasted novel can cause in the parsers.
_MAX_PHONE_INPUT = 250  # phonenumbers' own limit


_LEADING_00 = re.compile(r"^[\s(]*00")
# Digits alone, without "+" and without a leading 0: what a JSON number can hold (Webflow
# sends phone fields so), and what people type who leave out the "+".
_BARE_DIGITS = re.compile(r"[1-9]\d{6,14}")


def phone(raw: str | None, country: str | None) -> tuple[str | None, str | None]:
    """(E.164 number, problem). The lead's country reads national numbers; "00" works as the
    international prefix even where the country dials something else (or is unknown)."""
    cleaned = text(raw)
    if cleaned is None:
        return None, None
    if len(cleaned) > _MAX_PHONE_INPUT:
        return None, "too long to be a phone number"
    region = _phone_region(country)
    value, problem = _settled_e164(cleaned, region)
    if _BARE_DIGITS.fullmatch(cleaned):
        international = _international(cleaned, region, national=value)
        if international is not None:
            return international, None
    if value is None and _LEADING_00.match(cleaned):
        retry, _ = _settled_e164(_LEADING_00.sub("+", cleaned, count=1), region)
        if retry is not None:
            return retry, None
    return value, problem


def _international(digits: str, region: str | None, national: str | None) -> str | None:
    """Bare digits read as an international number without its "+", when that is a valid
    number and either the digits do not read as a national number of the lead's country or
    they begin with that country's own code: 4915112345678 is +49 151 ..., not a German
    number 4915112345678, and with no country it is still a number rather than nothing."""
    value, _ = _settled_e164("+" + digits, None)
    if value is None or not phonenumbers.is_valid_number(phonenumbers.parse(value)):
        return None
    if national is None or region is None:
        return value
    own = str(phonenumbers.country_code_for_region(region))
    return value if digits.startswith(own) else None


def _phone_region(country_hint: str | None) -> str | None:
    """An unusable hint is no hint: guessing a region is worse than asking for a prefix."""
    code = country(country_hint)
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def _settled_e164(candidate: str, region: str | None) -> tuple[str | None, str | None]:
    """E.164 for the candidate, only if that E.164 reads back as itself.

    phonenumbers strips a national prefix after the country code, and does it again when the
    result still starts with one: "+49 00522116" gives +490522116, which re-reads as
    +49522116. Such digits do not say which number was meant, and accepting them would make
    phone() not idempotent, so they are refused.
    """
    e164, problem = _e164(candidate, region)
    if e164 is None or e164 == candidate:
        return e164, problem
    again, _ = _e164(e164, None)
    if again != e164:
        return None, "ambiguous: the digits read as more than one number (a stray national prefix?)"
    return e164, None


def _e164(candidate: str, region: str | None) -> tuple[str | None, str | None]:
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        return None, _parse_problem(exc, region)
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None, _possibility_problem(reason, parsed.country_code)
    e164: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164, None


def _parse_problem(exc: phonenumbers.NumberParseException, region: str | None) -> str:
    kind = exc.error_type
    if kind == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        if region is None:
            return "no international prefix (+ or 00) and no known country to read it by"
        return "unknown international dialling code"
    if kind == phonenumbers.NumberParseException.NOT_A_NUMBER:
        return "not a phone number"
    if kind == phonenumbers.NumberParseException.TOO_LONG:
        return "too long to be a phone number"
    return "too short to be a phone number"


def _possibility_problem(reason: int, country_code: int | None) -> str:
    where = f"+{country_code}" if country_code else "its country"
    match reason:
        case phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
            return f"too short: at most a local {where} number, without its area code"
        case phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
            return "unknown international dialling code"
        case phonenumbers.ValidationResult.TOO_SHORT:
            return f"too short for a {where} number"
        case phonenumbers.ValidationResult.TOO_LONG:
            return f"too long for a {where} number"
        case _:
            return f"wrong number of digits for a {where} number"
