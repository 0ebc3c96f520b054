"""Reference tables for `ingest.normalise`: countries, free-mail providers, role mailboxes and
name particles, read once from `ingest/data/reference.json` (shipped with the package).

Kept as a plain data file so normalising needs no runtime dependency and the tables are
reviewable in a diff. `countries` was generated once from pycountry (ISO 3166-1); the other
tables are curated by hand and are deliberately conservative: a false "free mail" flag loses
a lead its company domain, a missing one only leaves a gmail.com address unflagged.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

_DATA: dict[str, Any] = json.loads(
    files("ingest").joinpath("data/reference.json").read_text(encoding="utf-8")
)

COUNTRIES: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple(
    (alpha2, alpha3, tuple(names)) for alpha2, alpha3, names in _DATA["countries"]
)
"""(alpha-2, alpha-3, English names as ISO 3166-1 / pycountry spells them: name, common name,
official name)."""

COUNTRY_ALIASES: dict[str, str] = {
    alias: code for group in _DATA["country_aliases"].values() for alias, code in group.items()
}
"""Extra ways people write a country, grouped by region in the file: abbreviations, former
names, ISO names without the "X, Republic of" inversion or the parenthesis, and the country's
own or a neighbour's name for it. Matched ignoring accents, case, punctuation and spacing
("U.K." is "UK"), like the names above, so only one spelling of each is listed."""

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(_DATA["free_mail_domains"])
"""Consumer mailbox providers: an address here says nothing about the lead's employer."""

FREE_MAIL_BRANDS: frozenset[str] = frozenset(_DATA["free_mail_brands"])
"""Providers that run the same consumer service under many country domains (yahoo.co.uk,
hotmail.fr, gmx.at ...): matched as brand + a short public suffix."""

ROLE_LOCAL_PARTS: frozenset[str] = frozenset(_DATA["role_local_parts"])
"""Local parts of shared mailboxes: a lead behind one of these is a company, not a person."""

NAME_PARTICLES: frozenset[str] = frozenset(_DATA["name_particles"])
"""Lower-case words that join a family name to what follows ("van der Berg", "de la Cruz");
kept lower-case when they are neither the first nor the last word of a name."""

NAME_SUFFIXES: dict[str, str] = dict(_DATA["name_suffixes"])
"""Generational suffixes that stay with the family name and keep their conventional
spelling."""
