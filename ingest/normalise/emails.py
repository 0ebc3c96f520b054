"""Normalising email addresses: validated, lower-cased, with flags (free mail, role mailbox)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from ingest.normalise import FIXED_POINT_ROUNDS, text
from ingest.reference_data import (
    FREE_MAIL_BRANDS,
    FREE_MAIL_DOMAINS,
    ROLE_LOCAL_PARTS,
)

# Far beyond any real value; caps the work a pasted novel can cause in the parsers.
_MAX_EMAIL_INPUT = 512


@dataclass(frozen=True)
class EmailResult:
    """A normalised address, or why the input is not one.

    A missing address is not a problem (value and problem both None): forms make email
    optional when a phone number is given.
    """

    value: str | None
    problem: str | None
    flags: tuple[str, ...]


_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_DISPLAY_NAME = re.compile(r"^[^<>]*<([^<>]*)>$")


def email(raw: str | None) -> EmailResult:
    """Validate and normalise an address; flag free-mail and shared (role) mailboxes."""
    cleaned = text(raw)
    if cleaned is None:
        return EmailResult(None, None, ())
    if len(cleaned) > _MAX_EMAIL_INPUT:
        return EmailResult(None, "too long to be an email address", ())
    candidate = bare_address(cleaned)
    if not candidate:
        return EmailResult(None, "no address between the angle brackets", ())
    value, problem = _settled_address(candidate)
    if value is None:
        return EmailResult(None, problem, ())
    return EmailResult(value, None, _email_flags(value))


def bare_address(cleaned: str) -> str:
    """The address inside what people paste from mail clients: `Jo <jo@x.com>`, `<jo@x.com>`,
    `mailto:jo@x.com?subject=Hi`."""
    candidate = cleaned
    match = _DISPLAY_NAME.match(candidate)
    if match:
        candidate = match.group(1).strip()
    if _MAILTO.match(candidate):
        candidate = _MAILTO.sub("", candidate).split("?", 1)[0].strip()
    return candidate


def _settled_address(candidate: str) -> tuple[str | None, str | None]:
    """The normalised address, or why `candidate` is none: by `_plain_address` when it can
    tell, else by email_validator (`_settled_by_library`)."""
    current = _lower_nfc(candidate)
    plain = _plain_address(current)
    if plain is not None:
        return plain, None
    return _settled_by_library(current)


# email_validator's dot-atom local part (its rfc_constants.ATEXT), lower-cased.
_ATOM = r"[a-z0-9_!#$%&'*+\-/=?^`{|}~]+"
_PLAIN_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_MAX_LOCAL, _MAX_ADDRESS = 64, 254  # RFC 5321's limits, as email_validator applies them


def _plain_address(lowered: str) -> str | None:
    """`lowered` itself when it is a plain address (an ASCII dot-atom local part within
    the lengths, at an ASCII domain email_validator takes as it is), else None.

    What email_validator answers for such an address, without asking it for each one:
    nearly all its CPU goes into the domain (IDNA rules character by character), and a
    source's leads come from few domains, so the domain's answer is remembered. Anything
    else (quoted or internationalised local parts, IDNA domains, refusals) is left to
    email_validator; tests/unit/ingest/test_normalise.py checks that both agree."""
    local, at, host = lowered.rpartition("@")
    if (
        not at
        or len(local) > _MAX_LOCAL
        or len(lowered) > _MAX_ADDRESS
        or not host.isascii()
        or _PLAIN_LOCAL.fullmatch(local) is None
    ):
        return None
    return lowered if _normal_domain(host) == host else None


@lru_cache(maxsize=4096)
def _normal_domain(host: str) -> str | None:
    """The domain as email_validator normalises it, or None when it refuses it."""
    try:
        return validate_email(f"x@{host}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def _settled_by_library(current: str) -> tuple[str | None, str | None]:
    """Validate with email_validator until the lower-cased normalised form reproduces
    itself.

    Lower-casing after email_validator's normalisation (NFC, IDNA to Unicode) is not promised
    to commute with it; no code point we tried breaks it with email_validator 2.4, so this
    usually costs nothing, but it makes idempotence a property of this code rather than of a
    library version. A form that does not settle is refused.
    """
    for _ in range(FIXED_POINT_ROUNDS):
        try:
            validated = validate_email(current, check_deliverability=False)
        except EmailNotValidError as exc:
            return None, str(exc) or "not a valid email address"
        normalised = _lower_nfc(validated.normalized)
        if normalised == current:
            return current, None
        current = normalised
    return None, "the address has no stable normalised form"


def _lower_nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value.lower())


def _email_flags(address: str) -> tuple[str, ...]:
    local, _, host = address.rpartition("@")
    flags: list[str] = []
    if is_free_mail(host):
        flags.append("free_mail")
    if local.split("+", 1)[0] in ROLE_LOCAL_PARTS:
        flags.append("role_address")
    return tuple(flags)


def is_free_mail(host: str) -> bool:
    """Known consumer domains, or a consumer brand under a short (country) suffix such as
    yahoo.co.uk; a long suffix (yahoo.mycorp.com) is somebody else's host."""
    if host in FREE_MAIL_DOMAINS:
        return True
    brand, _, suffix = host.partition(".")
    labels = suffix.split(".")
    return (
        brand in FREE_MAIL_BRANDS
        and 1 <= len(labels) <= 2
        and all(0 < len(label) <= 3 and label.isalpha() for label in labels)
    )
