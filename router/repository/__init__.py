"""All of the router's SQL, one module per noun (reps, teams, accounts, pools, rules,
versions, the routing state, leads, assignments, activities, compliance, opportunities,
webhook subscriptions and deliveries, erasure). Reads take a `ReadConn` or a `Tx`; writes
take a `Tx`. Nothing here commits. The records they return are router/records.py's."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, cast

from services.db import Conn as Conn
from services.db import connection_of as connection_of

R = TypeVar("R")


def record_of(record: type[R], row: Any) -> R:
    """The record (a dataclass) of a row: its columns of the record's fields (a table may
    have more)."""
    values = row._mapping
    return record(**{f.name: values[f.name] for f in dataclasses.fields(cast(Any, record))})


# The modules by noun, so a caller that imports `repository` reads `repository.leads.get_lead`
# (they import Conn from here, so they come after it).
from router.repository import accounts as accounts  # noqa: E402
from router.repository import activities as activities  # noqa: E402
from router.repository import assignments as assignments  # noqa: E402
from router.repository import compliance as compliance  # noqa: E402
from router.repository import deliveries as deliveries  # noqa: E402
from router.repository import erasure as erasure  # noqa: E402
from router.repository import leads as leads  # noqa: E402
from router.repository import opportunities as opportunities  # noqa: E402
from router.repository import pools as pools  # noqa: E402
from router.repository import reps as reps  # noqa: E402
from router.repository import routing as routing  # noqa: E402
from router.repository import rules as rules  # noqa: E402
from router.repository import subscriptions as subscriptions  # noqa: E402
from router.repository import teams as teams  # noqa: E402
from router.repository import versions as versions  # noqa: E402
