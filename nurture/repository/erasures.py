"""Erasing a person from nurture's tables (its tombstones are the chassis's)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, or_, select

from nurture.models import consents, engagements, enrolments, leads, messages, tasks
from nurture.records import Erased
from services.db import Tx


async def erase(tx: Tx, lead_ids: Sequence[str], email_hashes: Sequence[str]) -> Erased:
    """Delete everything nurture keeps about these leads and addresses (the suppression
    list is the caller's business)."""
    ids = list(lead_ids)
    hashes = list(email_hashes)
    enrolment_ids = [
        r.id
        for r in await tx.conn.execute(select(enrolments.c.id).where(enrolments.c.lead_id.in_(ids)))
    ]
    message_ids = [
        r.id
        for r in await tx.conn.execute(
            select(messages.c.id).where(
                or_(messages.c.lead_id.in_(ids), messages.c.email_hash.in_(hashes))
            )
        )
    ]
    statements = {
        "enrolments": delete(enrolments).where(enrolments.c.id.in_(enrolment_ids)),
        "messages": delete(messages).where(messages.c.id.in_(message_ids)),
        "tasks": delete(tasks).where(tasks.c.lead_id.in_(ids)),
        "engagements": delete(engagements).where(engagements.c.lead_id.in_(ids)),
        "consents": delete(consents).where(consents.c.email_hash.in_(hashes)),
        "leads": delete(leads).where(leads.c.lead_id.in_(ids)),
    }
    counts: dict[str, int] = {}
    for name, statement in statements.items():
        counts[name] = int((await tx.conn.execute(statement)).rowcount)
    return Erased(enrolment_ids, message_ids, counts)
