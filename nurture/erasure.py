"""Erasure: remove a person's data from nurture, asked through its API or through audit
(`person.erasure_requested`). Runs inside the caller's transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from contracts.events import NurtureErasureCompleted
from contracts.ids import new_id
from nurture.consent import email_hash
from nurture.repository import consents, erasures, leads
from nurture.tracks import TOUCH
from services import timers
from services.db import Tx
from services.erasure import erase_person, put_tombstone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErasureOutcome:
    lead_ids: list[str]
    counts: dict[str, int]
    message_ids: list[str]
    suppressed: bool


async def erase(tx: Tx, lead_id: str | None, email: str | None) -> ErasureOutcome:
    """Remove the person's data from nurture: every lead with their address, its
    enrolments, emails, tasks, engagements and consent records. The address stays on
    the suppression list as a hash, so a stale event can never email them again."""
    hashes: set[str] = set()
    lead_ids: set[str] = set()
    if email:
        hashes.add(email_hash(email))
    if lead_id:
        lead_ids.add(lead_id)
        lead = await leads.get_lead(tx, lead_id)
        if lead is not None and lead.email_hash:
            hashes.add(lead.email_hash)
    for hashed in list(hashes):
        lead_ids.update(await leads.leads_by_email_hash(tx, hashed))
    erased = await erasures.erase(tx, sorted(lead_ids), sorted(hashes))
    for enrolment_id in erased.enrolment_ids:
        await timers.cancel(tx, TOUCH, enrolment_id)
    for hashed in hashes:
        await consents.suppress(tx, hashed, "erased", None, None, tx.now())
    log.info("erased %d leads from nurture: %s", len(lead_ids), erased.counts)
    return ErasureOutcome(sorted(lead_ids), erased.counts, erased.message_ids, bool(hashes))


async def erase_here(tx: Tx, lead_id: str | None, email: str | None) -> ErasureOutcome:
    """An erasure asked of nurture itself (its API): `erase`, then a tombstone per lead
    (late events about them are ignored, so no profile comes back)."""
    outcome = await erase(tx, lead_id, email)
    erasure_id = f"nurture-{new_id()}"
    for each in outcome.lead_ids:
        await put_tombstone(tx, each, erasure_id)
    return outcome


async def erase_requested(
    tx: Tx, lead_id: str, erasure_id: str, traceparent: str | None = None
) -> ErasureOutcome:
    """The erasure asked through audit (`person.erasure_requested`), the chassis's erase
    flow (`erase_person`) over every lead with the person's address: `erase` the person,
    redact nurture's own events about those leads in the outbox, keep a tombstone per lead
    (late events cannot re-enrol them) and confirm, in one transaction. The caller forgets
    the sender's copies."""
    outcomes: list[ErasureOutcome] = []

    async def own_rows(tx: Tx, lead_id: str, values: set[str]) -> int:
        outcomes.append(await erase(tx, lead_id, None))
        return sum(outcomes[-1].counts.values())

    await erase_person(
        tx,
        lead_id,
        erasure_id,
        NurtureErasureCompleted,
        profile=leads.profile_json,
        own_rows=own_rows,
        same_person=_same_address,
        traceparent=traceparent,
    )
    return outcomes[-1]


async def _same_address(tx: Tx, lead_id: str) -> list[str]:
    """The leads with the lead's address (itself among them)."""
    lead = await leads.get_lead(tx, lead_id)
    if lead is None or not lead.email_hash:
        return []
    return await leads.leads_by_email_hash(tx, lead.email_hash)
