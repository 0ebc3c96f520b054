"""The connector kinds the API accepts (`CrmKind`, also the keys of reps' `crm_owner_ids`)
are exactly the kinds Leadfarm has code for (`KINDS`): a kind accepted without code would
answer 500 when configured, a kind with code but not accepted could never be configured."""

from __future__ import annotations

from typing import get_args

from router.connectors import KINDS
from router.schemas.common import CrmKind


def test_the_accepted_kinds_are_the_kinds_with_code() -> None:
    assert set(get_args(CrmKind)) == set(KINDS)
    assert all(kind.kind == name for name, kind in KINDS.items())
