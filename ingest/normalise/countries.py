"""Normalising countries to ISO 3166-1 alpha-2 codes, from codes, names and aliases."""

from __future__ import annotations

import re
import unicodedata

from ingest.normalise import text
from ingest.reference_data import (
    COUNTRIES,
    COUNTRY_ALIASES,
)

# Far beyond any real value; caps the work a pasted novel can cause in the parsers.
_MAX_COUNTRY_INPUT = 200


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
