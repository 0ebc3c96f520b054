"""Managing reps: adding, changing and reading them, what the reps' routes call (suspending
and reinstating them, and their compliance, are compliance.py's)."""

from __future__ import annotations

from typing import Any

from router import repository
from router.records import Changer, RepRecord
from router.repository import Conn
from router.teams import check_team
from services.db import Tx
from services.errors import Conflict, NotFound


def _changed_by_columns(by: Changer) -> dict[str, str | None]:
    """A rep's columns saying who changed it last."""
    return {"changed_by": by.key_id, "changed_by_name": by.name}


class Reps:
    """The reps a manager adds and changes (each change bumps the routing configuration)."""

    async def add(self, tx: Tx, rep_id: str, values: dict[str, Any], by: Changer) -> RepRecord:
        """Add the rep with `values` (their fields as JSON, `team_id` a team that exists)."""
        if await repository.reps.rep_exists(tx, rep_id):
            raise Conflict(f"A rep with id {rep_id!r} exists already.")
        await check_team(tx, values.get("team_id"))
        now = tx.now()
        rep = await repository.reps.insert_rep(
            tx,
            {
                **values,
                "id": rep_id,
                "created_at": now,
                "updated_at": now,
                **_changed_by_columns(by),
            },
        )
        if rep is None:  # created by a concurrent request since rep_exists looked
            raise Conflict(f"A rep with id {rep_id!r} exists already.")
        return rep

    async def all(self, conn: Conn) -> list[RepRecord]:
        return await repository.reps.list_reps(conn)

    async def find(self, conn: Conn, rep_id: str) -> RepRecord | None:
        return await repository.reps.get_rep(conn, rep_id)

    async def get(self, conn: Conn, rep_id: str) -> RepRecord:
        rep = await repository.reps.get_rep(conn, rep_id)
        if rep is None:
            raise NotFound(f"There is no rep {rep_id!r}.")
        return rep

    async def change(self, tx: Tx, rep_id: str, changes: dict[str, Any], by: Changer) -> RepRecord:
        """Change the fields in `changes` (as JSON); the rep records who and when."""
        await self.get(tx, rep_id)
        await check_team(tx, changes.get("team_id"))
        if changes:
            await repository.reps.update_rep(
                tx, rep_id, {**changes, "updated_at": tx.now(), **_changed_by_columns(by)}
            )
        return await self.get(tx, rep_id)
