"""Normalising what people type into forms, one module per kind of value: `emails`, `phones`
(E.164), `names`, `domains` (the company domain), `countries` and `source_classes`; free
text (`text`) and what they all share are here.

Every function is pure and total: form input is hostile by accident (copy-pasted zero-width
spaces, "n/a", a whole signature block in the phone field), and one bad field must never cost
us the lead. Every function is also idempotent, so re-normalising stored values (replays,
backfills, a lead captured twice) never changes them.
"""

from __future__ import annotations

import re
import unicodedata

# What no field ever means: control characters other than whitespace (which str.split()
# turns into word breaks), lone surrogates (not storable as UTF-8) and the zero-width and
# soft-hyphen characters that copy-paste leaves behind.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff\u00ad\u200b\u200e\u200f\u2060\ufeff]"
)


# A re-normalisation loop that has not settled after this many rounds never will.
FIXED_POINT_ROUNDS = 4


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
