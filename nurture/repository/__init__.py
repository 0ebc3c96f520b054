"""All of nurture's SQL, one module per noun. Reads take a `ReadConn` or a `Tx`; writes take
a `Tx`. Nothing here commits."""

from __future__ import annotations
