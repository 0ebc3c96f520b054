"""What the router's routes share: path parameters, the lead and rep a principal may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from router.records import Changer, LeadRecord, RepRecord
from router.routes.deps import RouterDeps
from router.schemas.common import ID_PATTERN
from router.service import Router
from services.auth import Principal
from services.db import Conn
from services.problems import Problem

Id = Annotated[str, Path(min_length=1, max_length=100, pattern=ID_PATTERN)]


def changer(principal: Principal) -> Changer:
    return Changer(principal.key_id, principal.name)


async def visible_lead(
    router: Router,
    conn: Conn,
    lead_id: str,
    principal: Principal,
    *,
    lock: bool = False,
    found: bool = False,
) -> LeadRecord:
    """A rep sees only leads assigned to them; others' leads look like missing ones.
    Readers that say `found` also show the rep who sourced the lead where it went (a
    pool may distribute rep-sourced leads). Writers `lock` the lead's row first, so the
    check holds until they commit (a timer may have just given the lead to someone
    else). Lock order everywhere: the routing lock, then the lead, then its assignment."""
    lead = await router.lead_of(conn, lead_id, for_update=lock)
    mine = lead is not None and (
        lead.rep_id == principal.rep_id
        or (
            found
            and principal.rep_id is not None
            and lead.profile.sourced_by_rep_id == principal.rep_id
        )
    )
    if lead is None or (principal.is_rep_only and not mine):
        raise Problem(404, f"There is no assigned lead {lead_id!r} visible to you.")
    return lead


async def visible_rep(deps: RouterDeps, conn: Conn, rep_id: str, principal: Principal) -> RepRecord:
    rep = await deps.reps.find(conn, rep_id)
    if rep is None or (principal.is_rep_only and rep_id != principal.rep_id):
        raise Problem(404, f"There is no rep {rep_id!r} visible to you.")
    return rep
