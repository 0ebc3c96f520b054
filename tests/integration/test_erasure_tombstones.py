"""Where the tombstones live, on both runtimes: an erasure asked through audit leaves one row
per erasing service in the chassis's `tombstones` (service, lead), in each service's own copy
of it on PostgreSQL and in the one shared table on SQLite, and no service keeps a tombstone
table of its own. Asking again keeps one row per service, under the latest erasure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from contracts.topics import ServiceName
from services.tables import tombstones
from tests.backends import ADMIN, Backend, ClusterBackend, eventually

ERASING: tuple[ServiceName, ...] = ("ingest", "qualifier", "router", "nurture")


async def erase(backend: Backend, lead_id: str) -> str:
    audit = backend.client("audit")
    asked = await audit.post("/audit/v1/erasures", json={"lead_id": lead_id}, headers=ADMIN)
    assert asked.status_code == 201, asked.text
    erasure_id: str = asked.json()["id"]

    async def complete() -> dict[str, Any] | None:
        response = await audit.get(f"/audit/v1/erasures/{erasure_id}", headers=ADMIN)
        body: dict[str, Any] = response.json()
        return body if body["complete"] else None

    await eventually(complete, timeout=60)
    return erasure_id


async def tombstones_of(backend: Backend) -> dict[str, list[tuple[str, str, str]]]:
    """Each erasing service's view of the chassis table: (service, lead, erasure id)."""
    seen: dict[str, list[tuple[str, str, str]]] = {}
    for service in ERASING:
        async with backend.runtimes[service].units[service].read() as conn:
            rows = await conn.execute(
                select(tombstones.c.service, tombstones.c.lead_id, tombstones.c.erasure_id)
            )
            seen[service] = sorted((r.service, r.lead_id, r.erasure_id) for r in rows)
    return seen


async def own_tombstone_tables(backend: Backend) -> list[str]:
    async with backend.runtimes["audit"].units["audit"].read() as conn:
        if isinstance(backend, ClusterBackend):
            found = await conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_name LIKE :n"),
                {"n": "%\\_erased"},
            )
        else:
            found = await conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE :n"),
                {"n": "%erased"},
            )
        return [name for (name,) in found]


async def test_every_erasing_service_keeps_its_tombstone_in_the_chassis_table(
    backend: Backend,
) -> None:
    first = await erase(backend, "lead-tomb-1")
    again = await erase(backend, "lead-tomb-1")
    assert again == first  # asking again re-sends the request under the same id
    other = await erase(backend, "lead-tomb-2")

    rows = [(s, "lead-tomb-1", first) for s in ERASING] + [
        (s, "lead-tomb-2", other) for s in ERASING
    ]
    seen = await tombstones_of(backend)
    if isinstance(backend, ClusterBackend):
        # One schema per service: each sees its own copy, holding its own rows.
        assert seen == {s: sorted(r for r in rows if r[0] == s) for s in ERASING}
    else:
        # One file: one table, a row per service and lead.
        assert seen == {s: sorted(rows) for s in ERASING}
    assert await own_tombstone_tables(backend) == []
