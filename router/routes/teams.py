"""Teams with their holidays, and account owners."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from router import repository
from router.routes.common import Id
from router.routes.deps import Deps
from router.schemas.teams import AccountIn, AccountOut, TeamHolidayOut, TeamIn, TeamOut
from services.auth import ManagerKey
from services.errors import Invalid
from services.problems import Problem

routes = APIRouter()


@routes.put(
    "/teams/{team_id}",
    response_model=TeamOut,
    responses={201: {"model": TeamOut, "description": "Created"}},
)
async def put_team(
    deps: Deps, team_id: Id, body: TeamIn, response: Response, _: ManagerKey
) -> TeamOut:
    """Create or replace a team and its days off: the public holidays of its `country`
    (and `subdivision`) less its `worked_holidays`, plus its own `holidays`."""
    async with deps.unit.transaction() as tx:
        created = await repository.teams.get_team(tx, team_id) is None
        await repository.teams.upsert_team(tx, team_id, body.model_dump(mode="json"))
        team = await repository.teams.get_team(tx, team_id)
    response.status_code = 201 if created else 200
    assert team is not None
    return TeamOut.of(team)


@routes.get("/teams", response_model=list[TeamOut])
async def list_teams(deps: Deps, _: ManagerKey) -> list[TeamOut]:
    async with deps.unit.read() as conn:
        found = await repository.teams.list_teams(conn)
    return [TeamOut.of(t) for t in found]


@routes.get("/teams/{team_id}", response_model=TeamOut)
async def get_team(deps: Deps, team_id: Id, _: ManagerKey) -> TeamOut:
    async with deps.unit.read() as conn:
        team = await repository.teams.get_team(conn, team_id)
    if team is None:
        raise Problem(404, f"There is no team {team_id!r}.")
    return TeamOut.of(team)


@routes.get("/teams/{team_id}/holidays", response_model=list[TeamHolidayOut])
async def team_holidays(
    deps: Deps,
    team_id: Id,
    _: ManagerKey,
    year: Annotated[
        int | None, Query(ge=1900, le=2200, description="Calendar year (default: this one)")
    ] = None,
) -> list[TeamHolidayOut]:
    """The team's days off in `year`, public and its own, as routing sees them."""
    year = year or deps.unit.clock.now().year
    async with deps.unit.read() as conn:
        team = await repository.teams.get_team(conn, team_id)
    if team is None:
        raise Problem(404, f"There is no team {team_id!r}.")
    days = team.days_off().between(date(year, 1, 1), date(year, 12, 31))
    return [TeamHolidayOut(date=d, name=name, source=source) for d, name, source in days]


@routes.delete("/teams/{team_id}", status_code=204)
async def delete_team(deps: Deps, team_id: Id, _: ManagerKey) -> None:
    async with deps.unit.transaction() as tx:
        members = [r.id for r in await repository.reps.reps_where(tx, team_ids=[team_id])]
        if members:
            raise Problem(409, f"Team {team_id!r} still has reps: {', '.join(members)}.")
        if not await repository.teams.delete_team(tx, team_id):
            raise Problem(404, f"There is no team {team_id!r}.")


@routes.put("/accounts/{domain}", response_model=AccountOut)
async def put_account(deps: Deps, domain: str, body: AccountIn, _: ManagerKey) -> AccountOut:
    """Give a company's domain an owner rep (`account_owner_first` pools route to them)."""
    domain = domain.strip().lower().removeprefix("www.")
    async with deps.unit.transaction() as tx:
        if not await repository.reps.rep_exists(tx, body.rep_id):
            raise Invalid("rep_id", "unknown rep", f"There is no rep {body.rep_id!r}.")
        await repository.accounts.upsert_account(tx, domain, body.rep_id)
        account = await repository.accounts.get_account(tx, domain)
    return AccountOut.model_validate(account)


@routes.get("/accounts", response_model=list[AccountOut])
async def list_accounts(deps: Deps, _: ManagerKey) -> list[AccountOut]:
    async with deps.unit.read() as conn:
        return [AccountOut.model_validate(a) for a in await repository.accounts.list_accounts(conn)]


@routes.delete("/accounts/{domain}", status_code=204)
async def delete_account(deps: Deps, domain: str, _: ManagerKey) -> None:
    async with deps.unit.transaction() as tx:
        if not await repository.accounts.delete_account(tx, domain.strip().lower()):
            raise Problem(404, f"There is no account {domain!r}.")
