"""Erasure: audit redacts its own store at once, says `person.erasure_requested`, and
records each service's confirmation."""

from __future__ import annotations

from dataclasses import dataclass

from audit.records import ConfirmationRow, ErasureRow
from audit.redact import personal_values, redact_envelope, scrub_text
from audit.repository.erasures import (
    confirm_erasure,
    erasure_confirmations_of,
    find_erasure,
    get_erasure,
    put_erasure,
)
from audit.repository.events import envelopes_of, replace_envelope
from audit.repository.forecast import scrub_requests
from audit.repository.leads import forget_contact, mark_erased
from audit.repository.satisfaction_audits import erase_satisfaction_audit_text
from contracts.events import (
    ErasureCompleted,
    ErasureRequested,
)
from contracts.ids import new_id
from contracts.topics import SERVICES
from services import erasure
from services.db import Conn, Tx
from services.outbox import emit


@dataclass(frozen=True)
class Progress:
    """An erasure and which services have confirmed it (audit first)."""

    erasure: ErasureRow
    confirmations: list[ConfirmationRow]
    pending: list[str]
    complete: bool


async def erase(tx: Tx, lead_id: str, requested_by: str) -> Progress:
    """Redact the person's data from every archived event about the lead, from audit
    comments and from audit's outbox, and forget the email and company the lead could be
    found by; other read models hold none, so every count stays. Then
    say `person.erasure_requested` so every other service erases its own store and
    confirms; asking again re-sends it under the same erasure id."""
    stored = await envelopes_of(tx, lead_id)
    values: set[str] = set()
    for _, envelope in stored:
        values |= personal_values(envelope.get("data"))
    values |= await erasure.outbox_values(tx, lead_id)
    redacted = 0
    for position, envelope in stored:
        clean = redact_envelope(envelope, values)
        if clean != envelope:
            await replace_envelope(tx, position, clean)
            redacted += 1
    await scrub_requests(tx, lead_id, lambda text: scrub_text(text, values))
    await erase_satisfaction_audit_text(tx, lead_id)
    await forget_contact(tx, lead_id)
    await mark_erased(tx, lead_id, tx.now())
    await erasure.redact_outbox(tx, lead_id, values)
    earlier = await get_erasure(tx, lead_id)
    erasure_id = earlier.id if earlier is not None and earlier.id else new_id()
    await put_erasure(tx, lead_id, requested_by, redacted, erasure_id)
    await confirm_erasure(tx, lead_id, "audit", erasure_id, redacted)
    await emit(
        tx,
        ErasureRequested(lead_id=lead_id, erasure_id=erasure_id, requested_at=tx.now()),
    )
    row = await get_erasure(tx, lead_id)
    assert row is not None
    return await _progress(tx, row)


async def progress(conn: Conn, erasure_id: str) -> Progress | None:
    row = await find_erasure(conn, erasure_id)
    return await _progress(conn, row) if row is not None else None


async def _progress(conn: Conn, row: ErasureRow) -> Progress:
    confirmed = [
        c
        for c in await erasure_confirmations_of(conn, row.lead_id)
        if row.id is None or c.erasure_id == row.id
    ]
    confirmed.sort(key=lambda c: (c.service != "audit", c.confirmed_at, c.service))
    done = {c.service for c in confirmed}
    return Progress(
        erasure=row,
        confirmations=confirmed,
        pending=[s for s in SERVICES if s not in done],
        complete=done >= set(SERVICES),
    )


async def confirmed(tx: Tx, data: ErasureCompleted) -> None:
    await confirm_erasure(tx, data.lead_id, data.SERVICE, data.erasure_id, data.records)
