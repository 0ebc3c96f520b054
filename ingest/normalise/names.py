"""Normalising people's names: casing, particles and suffixes, and splitting a full name."""

from __future__ import annotations

import re
import unicodedata

from ingest.normalise import text
from ingest.reference_data import (
    NAME_PARTICLES,
    NAME_SUFFIXES,
)

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
