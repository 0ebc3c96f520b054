"""Normalising what people type into forms: email, phone (E.164), names, company domain,
country and source class.

Every function is pure and total: form input is hostile by accident (copy-pasted zero-width
spaces, "n/a", a whole signature block in the phone field), and one bad field must never cost
us the lead. Every function is also idempotent, so re-normalising stored values (replays,
backfills, a lead captured twice) never changes them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from contracts.events import SourceClass
from ingest.reference_data import (
    COUNTRIES,
    COUNTRY_ALIASES,
    FREE_MAIL_BRANDS,
    FREE_MAIL_DOMAINS,
    NAME_PARTICLES,
    NAME_SUFFIXES,
    ROLE_LOCAL_PARTS,
)

__all__ = [
    "EmailResult",
    "country",
    "domain",
    "email",
    "names",
    "person_name",
    "phone",
    "source_class",
    "text",
]

# Far beyond any real value; caps the work a pasted novel can cause in the parsers.
_MAX_EMAIL_INPUT = 512
_MAX_PHONE_INPUT = 250  # phonenumbers' own limit
_MAX_COUNTRY_INPUT = 200
_MAX_WEBSITE_INPUT = 2048
_MAX_UTM_VALUE = 500
_MAX_HOSTNAME = 253

# What no field ever means: control characters other than whitespace (which str.split()
# turns into word breaks), lone surrogates (not storable as UTF-8) and the zero-width and
# soft-hyphen characters that copy-paste leaves behind.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff\u00ad\u200b\u200e\u200f\u2060\ufeff]"
)

# A re-normalisation loop that has not settled after this many rounds never will.
_FIXED_POINT_ROUNDS = 4


# --------------------------------------------------------------------------- text


def text(raw: str | None) -> str | None:
    """Free text as one clean line, or None when nothing visible is left.

    Invisible characters go before NFC so that removing one can never leave an uncomposed
    pair behind for a second pass to compose.
    """
    if raw is None:
        return None
    visible = _INVISIBLE.sub("", raw)
    cleaned = " ".join(unicodedata.normalize("NFC", visible).split())
    return cleaned or None


# --------------------------------------------------------------------------- email


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
    candidate = _bare_address(cleaned)
    if not candidate:
        return EmailResult(None, "no address between the angle brackets", ())
    value, problem = _settled_address(candidate)
    if value is None:
        return EmailResult(None, problem, ())
    return EmailResult(value, None, _email_flags(value))


def _bare_address(cleaned: str) -> str:
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
    """Validate until the lower-cased normalised form reproduces itself.

    Lower-casing after email_validator's normalisation (NFC, IDNA to Unicode) is not promised
    to commute with it; no code point we tried breaks it with email_validator 2.4, so this
    usually costs nothing, but it makes idempotence a property of this code rather than of a
    library version. A form that does not settle is refused.
    """
    current = _lower_nfc(candidate)
    for _ in range(_FIXED_POINT_ROUNDS):
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
    if _is_free_mail(host):
        flags.append("free_mail")
    if local.split("+", 1)[0] in ROLE_LOCAL_PARTS:
        flags.append("role_address")
    return tuple(flags)


def _is_free_mail(host: str) -> bool:
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


# --------------------------------------------------------------------------- phone

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


# --------------------------------------------------------------------------- names

_APOSTROPHES = "'\u2019"
_APOSTROPHE_SPLIT = re.compile(f"([{_APOSTROPHES}])")
_CJK_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL")


def person_name(raw: str | None) -> str | None:
    """A name with its casing repaired only when it was typed in one case.

    Mixed case is left exactly as typed (people know their own names: "DeShawn", "van Gogh"),
    and so is any name with non-Latin letters, whose casing rules we do not know.
    """
    cleaned = text(raw)
    if cleaned is None or not _single_case(cleaned) or not _latin_only(cleaned):
        return cleaned
    words = cleaned.lower().split(" ")
    last = len(words) - 1
    cased = " ".join(_case_word(word, i == 0, i == last) for i, word in enumerate(words))
    return text(cased)


def _single_case(value: str) -> bool:
    has_case = value.lower() != value.upper()
    return has_case and value in (value.lower(), value.upper())


def _latin_only(value: str) -> bool:
    return all(unicodedata.name(ch, "").startswith("LATIN") for ch in value if ch.isalpha())


def _case_word(word: str, first: bool, last: bool) -> str:
    """Particles stay lower between other words ("Ludwig van Beethoven") but not at either
    end, where they are somebody's whole name ("Thanh Le")."""
    if not first and not last and word in NAME_PARTICLES:
        return word
    if not first and word in NAME_SUFFIXES:
        return NAME_SUFFIXES[word]
    return "-".join(_case_part(part) for part in word.split("-"))


def _case_part(part: str) -> str:
    """One hyphen-free piece: O'Brien and D'Angelo capitalise after a one-letter prefix;
    Mc is always a prefix (McDonald). Mac is not: MacDonald and Mackintosh both exist."""
    pieces = _APOSTROPHE_SPLIT.split(part)
    out: list[str] = []
    for i, piece in enumerate(pieces):
        after_initial = i >= 2 and len(pieces[i - 2]) == 1
        out.append(_capitalise(piece) if i == 0 or after_initial else piece)
    return "".join(out)


def _capitalise(piece: str) -> str:
    """Title-case the first letter; title case (not upper) so that "ß" becomes "Ss"."""
    if piece.startswith("mc") and len(piece) > 2:
        return "Mc" + _capitalise(piece[2:])
    for i, ch in enumerate(piece):
        if ch.isalpha():
            return piece[:i] + ch.title() + piece[i + 1 :]
    return piece


def names(
    first: str | None, last: str | None, full: str | None
) -> tuple[str | None, str | None, str | None]:
    """(first, last, full). A full name is split only when neither part was given; the full
    name is kept as given, or built from the parts."""
    first_name, last_name, full_name = person_name(first), person_name(last), person_name(full)
    if first_name is None and last_name is None and full_name is not None:
        first_name, last_name = _split_full(full_name)
    if full_name is None:
        full_name = person_name(" ".join(p for p in (first_name, last_name) if p))
    return first_name, last_name, full_name


def _split_full(full_name: str) -> tuple[str | None, str | None]:
    """Split "Last, First"; else the family name is the last word with any particles before it and
    a generational suffix after it. CJK names are written family-first, often without
    spaces, so they are not split at all."""
    if _has_cjk(full_name):
        return None, None
    if "," in full_name:
        family, _, given = full_name.partition(",")
        return person_name(given), person_name(family)
    words = full_name.split(" ")
    if len(words) == 1:
        return person_name(full_name), None
    start = len(words) - 1
    if start > 1 and words[start].casefold() in NAME_SUFFIXES:
        start -= 1
    while start > 1 and words[start - 1].casefold() in NAME_PARTICLES:
        start -= 1
    return person_name(" ".join(words[:start])), person_name(" ".join(words[start:]))


def _has_cjk(value: str) -> bool:
    return any(unicodedata.name(ch, "").startswith(_CJK_SCRIPTS) for ch in value)


# --------------------------------------------------------------------------- country

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _country_key(raw: str) -> str:
    """Accents, case, punctuation, spacing and a leading "the" do not tell countries apart:
    "U.S.", "us", "Côte d'Ivoire" / "cote divoire", "The Netherlands" / "netherlands"."""
    decomposed = unicodedata.normalize("NFKD", raw.replace("&", " and "))
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    words = _NOT_ALNUM.sub(" ", folded).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return "".join(words)


def _country_table() -> dict[str, str]:
    """Codes are added last so that no name or alias can shadow an ISO code."""
    table: dict[str, str] = {}
    for alias, code in COUNTRY_ALIASES.items():
        table[_country_key(alias)] = code
    for alpha2, _, country_names in COUNTRIES:
        for name in country_names:
            table[_country_key(name)] = alpha2
    for alpha2, alpha3, _ in COUNTRIES:
        table[alpha3.lower()] = alpha2
        table[alpha2.lower()] = alpha2
    return table


_COUNTRY_BY_KEY = _country_table()


def country(raw: str | None) -> str | None:
    """ISO 3166-1 alpha-2 for a code (alpha-2 or alpha-3) or a name, in English or in the
    common local spelling; None when it is not recognisably one country."""
    cleaned = text(raw)
    if cleaned is None or len(cleaned) > _MAX_COUNTRY_INPUT or _is_placeholder(cleaned):
        return None
    key = _country_key(cleaned)
    return _COUNTRY_BY_KEY.get(key) if key else None


def _is_placeholder(value: str) -> bool:
    """Placeholders like "n/a" and "n.a." would fold to "na", Namibia's code; a bare "NA" is
    taken at its word."""
    return value.casefold().rstrip(".") in ("n/a", "n.a", "n. a")


# --------------------------------------------------------------------------- domain

_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//")
_AUTHORITY_END = re.compile(r"[/?#\\ ,;]")
_PORT = re.compile(r":\d*$")

# Sites where a URL with a path is somebody's profile page, not the lead's company site.
_PROFILE_HOSTS = frozenset(
    {
        "linkedin.com",
        "facebook.com",
        "instagram.com",
        "twitter.com",
        "x.com",
        "youtube.com",
        "tiktok.com",
        "xing.com",
        "github.com",
        "linktr.ee",
    }
)


def domain(website: str | None, email_address: str | None) -> str | None:
    """The lead's company domain: its website's host, else its email's domain unless that is
    a free-mail provider (gmail.com is not the lead's company)."""
    host = _website_host(website)
    if host is not None:
        return host
    cleaned = text(email_address)
    if cleaned is None or "@" not in cleaned or len(cleaned) > _MAX_WEBSITE_INPUT:
        return None
    host = _plausible_host(_bare_address(cleaned).rpartition("@")[2].lower())
    if host is None or _is_free_mail(host):
        return None
    return host


def _website_host(website: str | None) -> str | None:
    """The host of a URL or bare hostname, dropping scheme, credentials, port, path, query.
    A profile page (linkedin.com/company/acme) says nothing about the company's own domain."""
    cleaned = text(website)
    if cleaned is None or len(cleaned) > _MAX_WEBSITE_INPUT:
        return None
    rest = _SCHEME.sub("", cleaned.lower())
    authority, *path = _AUTHORITY_END.split(rest, maxsplit=1)
    host = _plausible_host(_PORT.sub("", authority.rpartition("@")[2]))
    if host is None or (path and path[0].strip("/") and _is_profile_host(host)):
        return None
    return host


def _is_profile_host(host: str) -> bool:
    return any(host == p or host.endswith("." + p) for p in _PROFILE_HOSTS)


def _plausible_host(host: str) -> str | None:
    """A lower-case hostname with at least two labels and an alphabetic TLD, without "www."
    prefixes; None for "n/a", "-", "localhost", IP addresses and other things typed into a
    website field."""
    host = unicodedata.normalize("NFC", host).rstrip(".")
    while host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    labels = host.split(".")
    if len(host) > _MAX_HOSTNAME or len(labels) < 2 or not all(map(_is_label, labels)):
        return None
    tld = labels[-1]
    if not (tld.isalpha() and len(tld) >= 2) and not tld.startswith("xn--"):
        return None
    return host


def _is_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(ch.isalnum() or ch == "-" for ch in label)
        and label == label.lower()
    )


# --------------------------------------------------------------------------- source class

# Keys are lower-case with "_" and "-" read as spaces.
_CLASS_BY_NAME: dict[str, SourceClass] = {
    "marketing": "marketing",
    "events": "events",
    "referrals": "referrals",
    "rep prospecting": "rep_prospecting",
    "marketing programs": "marketing",
    "marketing program": "marketing",
    "paid": "marketing",
    "ads": "marketing",
    "event": "events",
    "trade show": "events",
    "trade shows": "events",
    "tradeshow": "events",
    "tradeshows": "events",
    "webinar": "events",
    "webinars": "events",
    "referral": "referrals",
    "customer referral": "referrals",
    "customer referrals": "referrals",
    "partner": "referrals",
    "partners": "referrals",
    "rep": "rep_prospecting",
    "prospecting": "rep_prospecting",
    "outbound": "rep_prospecting",
    "sales": "rep_prospecting",
}

# Checked in this order: a "partner webinar" is a referral first.
_UTM_KEYWORDS: tuple[tuple[SourceClass, tuple[str, ...]], ...] = (
    ("referrals", ("referral", "partner")),
    ("events", ("event", "tradeshow", "conference", "booth", "webinar")),
    (
        "marketing",
        ("cpc", "ppc", "paid", "display", "social", "email", "newsletter", "organic", "ads"),
    ),
)


def source_class(explicit: str | None, utm: Mapping[str, str], default: SourceClass) -> SourceClass:
    """The lead's source class: an explicit (or obviously aliased) class wins, then what the
    UTM medium and source say, then the source's configured default."""
    named = _named_class(explicit)
    if named is not None:
        return named
    tokens = _utm_tokens(
        value for key, value in utm.items() if key.lower() in ("utm_medium", "utm_source")
    )
    for cls, keywords in _UTM_KEYWORDS:
        if any(token.startswith(keywords) for token in tokens):
            return cls
    return default


def _named_class(explicit: str | None) -> SourceClass | None:
    cleaned = text(explicit)
    if cleaned is None or len(cleaned) > _MAX_UTM_VALUE:
        return None
    return _CLASS_BY_NAME.get(" ".join(re.split(r"[\s_-]+", cleaned.lower())).strip())


def _utm_tokens(values: Iterable[str]) -> list[str]:
    """Words of the UTM values plus each adjacent pair run together, so "trade-show" reads as
    "tradeshow"; whole words (not substrings) so that "leads" is not "ads"."""
    tokens: list[str] = []
    for value in values:
        words = [w for w in re.split(r"[^0-9a-z]+", str(value).lower()[:_MAX_UTM_VALUE]) if w]
        tokens.extend(words)
        tokens.extend(a + b for a, b in pairwise(words))
    return tokens
