"""Managing teams (their days off) and account owners: what the teams' routes call."""

from __future__ import annotations

from datetime import date
from typing import Any

from router import repository
from router.records import AccountRecord, TeamRecord
from router.repository import Conn
from services.db import Tx
from services.errors import Conflict, Invalid, NotFound
from services.holidays import Source


async def check_team(conn: Conn, team_id: str | None) -> None:
    """A rep's `team_id` names a team that exists (or none)."""
    if team_id is not None and await repository.teams.get_team(conn, team_id) is None:
        raise Invalid("team_id", "unknown team", f"There is no team {team_id!r}; create it first.")


class Teams:
    """Teams with their days off, and the account owners `account_owner_first` routes to."""

    async def put(self, tx: Tx, team_id: str, values: dict[str, Any]) -> tuple[TeamRecord, bool]:
        """Create or replace the team (its fields as JSON); the team, and whether it is new."""
        created = await repository.teams.get_team(tx, team_id) is None
        await repository.teams.upsert_team(tx, team_id, values)
        team = await repository.teams.get_team(tx, team_id)
        assert team is not None
        return team, created

    async def all(self, conn: Conn) -> list[TeamRecord]:
        return await repository.teams.list_teams(conn)

    async def get(self, conn: Conn, team_id: str) -> TeamRecord:
        team = await repository.teams.get_team(conn, team_id)
        if team is None:
            raise NotFound(f"There is no team {team_id!r}.")
        return team

    async def days_off(self, conn: Conn, team_id: str, year: int) -> list[tuple[date, str, Source]]:
        """The team's days off in `year`, public and its own, as routing sees them."""
        team = await self.get(conn, team_id)
        return team.days_off().between(date(year, 1, 1), date(year, 12, 31))

    async def delete(self, tx: Tx, team_id: str) -> None:
        members = [r.id for r in await repository.reps.reps_where(tx, team_ids=[team_id])]
        if members:
            raise Conflict(f"Team {team_id!r} still has reps: {', '.join(members)}.")
        if not await repository.teams.delete_team(tx, team_id):
            raise NotFound(f"There is no team {team_id!r}.")

    async def put_account(self, tx: Tx, domain: str, rep_id: str) -> AccountRecord:
        """Give a company's domain (`www.` and case aside) an owner rep."""
        domain = domain.strip().lower().removeprefix("www.")
        if not await repository.reps.rep_exists(tx, rep_id):
            raise Invalid("rep_id", "unknown rep", f"There is no rep {rep_id!r}.")
        await repository.accounts.upsert_account(tx, domain, rep_id)
        account = await repository.accounts.get_account(tx, domain)
        assert account is not None
        return account

    async def accounts(self, conn: Conn) -> list[AccountRecord]:
        return await repository.accounts.list_accounts(conn)

    async def delete_account(self, tx: Tx, domain: str) -> None:
        if not await repository.accounts.delete_account(tx, domain.strip().lower()):
            raise NotFound(f"There is no account {domain!r}.")
