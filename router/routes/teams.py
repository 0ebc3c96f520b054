"""Teams with their holidays, and account owners."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from router.routes.common import Id
from router.routes.deps import Deps
from router.schemas.teams import AccountIn, AccountOut, TeamHolidayOut, TeamIn, TeamOut
from services.auth import ManagerKey

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
        team, created = await deps.teams.put(tx, team_id, body.model_dump(mode="json"))
    response.status_code = 201 if created else 200
    return TeamOut.of(team)


@routes.get("/teams", response_model=list[TeamOut])
async def list_teams(deps: Deps, _: ManagerKey) -> list[TeamOut]:
    async with deps.unit.read() as conn:
        found = await deps.teams.all(conn)
    return [TeamOut.of(t) for t in found]


@routes.get("/teams/{team_id}", response_model=TeamOut)
async def get_team(deps: Deps, team_id: Id, _: ManagerKey) -> TeamOut:
    async with deps.unit.read() as conn:
        team = await deps.teams.get(conn, team_id)
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
        days = await deps.teams.days_off(conn, team_id, year)
    return [TeamHolidayOut(date=d, name=name, source=source) for d, name, source in days]


@routes.delete("/teams/{team_id}", status_code=204)
async def delete_team(deps: Deps, team_id: Id, _: ManagerKey) -> None:
    async with deps.unit.transaction() as tx:
        await deps.teams.delete(tx, team_id)


@routes.put("/accounts/{domain}", response_model=AccountOut)
async def put_account(deps: Deps, domain: str, body: AccountIn, _: ManagerKey) -> AccountOut:
    """Give a company's domain an owner rep (`account_owner_first` pools route to them)."""
    async with deps.unit.transaction() as tx:
        account = await deps.teams.put_account(tx, domain, body.rep_id)
    return AccountOut.of(account)


@routes.get("/accounts", response_model=list[AccountOut])
async def list_accounts(deps: Deps, _: ManagerKey) -> list[AccountOut]:
    async with deps.unit.read() as conn:
        found = await deps.teams.accounts(conn)
    return [AccountOut.of(a) for a in found]


@routes.delete("/accounts/{domain}", status_code=204)
async def delete_account(deps: Deps, domain: str, _: ManagerKey) -> None:
    async with deps.unit.transaction() as tx:
        await deps.teams.delete_account(tx, domain)
