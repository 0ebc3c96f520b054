"""ingest's identity and what it keeps, on both runtimes (SQLite and PostgreSQL): who is the
same person, that every delivery keeps what was submitted, and what reaches the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ingest.models import deliveries
from tests.backends import ADMIN, Backend


async def submitted(backend: Backend, lead_id: str) -> list[Any]:
    """The raw payloads of the lead's deliveries, oldest first, as stored."""
    unit = backend.runtimes["ingest"].units["ingest"]
    async with unit.read() as conn:
        rows = await conn.execute(
            select(deliveries.c.payload)
            .where(deliveries.c.lead_id == lead_id)
            .order_by(deliveries.c.received_at, deliveries.c.id)
        )
        return [r.payload for r in rows]


async def lead(backend: Backend, lead_id: str) -> dict[str, Any]:
    response = await backend.client("ingest").get(f"/ingest/v1/leads/{lead_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def find(backend: Backend, **query: str) -> list[str]:
    response = await backend.client("ingest").get("/ingest/v1/leads", params=query, headers=ADMIN)
    assert response.status_code == 200, response.text
    return [f["id"] for f in response.json()]


async def post(backend: Backend, **body: Any) -> dict[str, Any]:
    response = await backend.client("ingest").post("/ingest/v1/leads", json=body, headers=ADMIN)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


# --- item: two people behind one phone number ----------------------------------------------


async def test_a_shared_phone_with_another_email_is_another_person(backend: Backend) -> None:
    """A switchboard or a family phone: the same number with another address is somebody
    else, never merged over (which lost the second address for good)."""
    switchboard = "+49 30 9876543"
    first = await post(backend, email="ana@shared.example", phone=switchboard, source="web")
    second = await post(backend, email="ben@shared.example", phone=switchboard, source="web")
    assert first["status"] == second["status"] == "captured"
    assert first["lead_id"] != second["lead_id"]
    assert await find(backend, email="ben@shared.example") == [second["lead_id"]]
    assert (await lead(backend, second["lead_id"]))["lead"]["email"] == "ben@shared.example"
    assert (await lead(backend, first["lead_id"]))["lead"]["email"] == "ana@shared.example"

    # Without an address nothing conflicts: the number alone is the first lead with it.
    by_phone = await post(backend, phone=switchboard, company="Shared GmbH")
    assert by_phone == {"lead_id": first["lead_id"], "status": "merged"}
    # A lead known only by its number takes the address of the first who gives one.
    only_phone = await post(backend, phone="+49 30 5550001")
    named = await post(backend, email="cleo@shared.example", phone="+49 30 5550001")
    assert named == {"lead_id": only_phone["lead_id"], "status": "merged"}
    assert (await lead(backend, named["lead_id"]))["lead"]["email"] == "cleo@shared.example"


async def test_every_api_delivery_keeps_what_was_submitted(backend: Backend) -> None:
    """Merging keeps the first value of a field; the delivery row keeps the rest."""
    first = await post(backend, email="dora@keep.example", phone="+44 20 7946 0958")
    again = await post(
        backend, email="Dora@Keep.example", phone="+44 20 7946 0000", job_title="CTO"
    )
    assert again == {"lead_id": first["lead_id"], "status": "merged"}
    profile = (await lead(backend, first["lead_id"]))["lead"]
    assert (profile["phone"], profile["job_title"]) == ("+442079460958", "CTO")
    assert await submitted(backend, first["lead_id"]) == [
        {"lead": {"email": "dora@keep.example", "phone": "+44 20 7946 0958"}},
        {"lead": {"email": "Dora@Keep.example", "phone": "+44 20 7946 0000", "job_title": "CTO"}},
    ]
