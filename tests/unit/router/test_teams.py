"""Account owners through the router's domain (router/teams.py): the repository hands back
`AccountRecord`s, which the API answers as they are."""

from __future__ import annotations

from router import repository
from router.records import AccountRecord
from router.schemas.teams import AccountOut
from router.teams import Teams
from tests.scenarios.router import World


async def test_accounts_are_records_from_the_repository_to_the_answer(world: World) -> None:
    await world.rep("ana")
    teams = Teams()
    async with world.unit.transaction() as tx:
        put = await teams.put_account(tx, "WWW.Acme.example", "ana")
        await repository.accounts.upsert_account(
            tx, "beta.example", "ana", connector_id="crm", external_id="001"
        )
    async with world.unit.read() as conn:
        listed = await teams.accounts(conn)
        found = await repository.accounts.get_account(conn, "acme.example")
        owned = await repository.accounts.accounts_in(conn, ["beta.example", "gamma.example"])
    assert isinstance(put, AccountRecord)
    assert put == found
    assert [a.domain for a in listed] == ["acme.example", "beta.example"]
    assert all(isinstance(a, AccountRecord) for a in listed)
    assert list(owned) == ["beta.example"]
    synced = owned["beta.example"]
    assert (synced.source, synced.connector_id, synced.external_id) == ("connector", "crm", "001")
    assert AccountOut.of(put).model_dump(mode="json") == {
        "domain": "acme.example",
        "rep_id": "ana",
        "created_at": put.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": put.updated_at.isoformat().replace("+00:00", "Z"),
        "source": "manual",
        "connector_id": None,
        "external_id": None,
    }
