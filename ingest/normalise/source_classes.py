"""Normalising the source class: as given, else read from the UTM parameters."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import pairwise

from contracts.events import SourceClass
from ingest.normalise import text

# Far beyond any real value; caps the work a pasted novel can cause in the parsers.
_MAX_UTM_VALUE = 500


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
