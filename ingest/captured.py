"""The captured leads a manager reads: one by id, or those found by email, phone or a
provider's lead id (normalised as on intake)."""

from __future__ import annotations

from ingest import repository
from ingest.normalise import emails, phones
from ingest.records import CapturedLead
from services.db import ReadConn


async def get(conn: ReadConn, lead_id: str) -> CapturedLead | None:
    """The normalised lead with every delivery that made it, if there is one."""
    return await repository.get_lead(conn, lead_id)


async def find(
    conn: ReadConn,
    *,
    email: str | None,
    phone: str | None,
    external_id: str | None,
    limit: int,
) -> list[CapturedLead]:
    """The leads with this email or phone (each normalised as on intake) or a delivery with
    this provider lead id, the oldest first."""
    ids = await repository.search_leads(
        conn,
        email=emails.email(email).value if email else None,
        phone=phones.phone(phone, None)[0] if phone else None,
        external_id=external_id,
        limit=limit,
    )
    found = [await repository.get_lead(conn, i) for i in ids]
    return [lead for lead in found if lead is not None]
