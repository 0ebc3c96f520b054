"""The send worker: hands queued emails to the sender outside any database transaction.

A round leases due emails in one short transaction (after a last check that each may
still go: the lead is still on its track, the address is not suppressed, consent stands),
sends them with bounded concurrency, then records each result in a transaction of its
own: sent (and `nurture.touched` said), a hard bounce (the address is suppressed), a
permanent failure, or a temporary one (retried with backoff, then failed). A worker that
dies mid-send leaves a lease that runs out, and the email goes again: delivery is at
least once, so the sender gets the message id as an idempotency key.
"""

from __future__ import annotations

import asyncio
import logging

from nurture.senders import HardBounce, OutgoingEmail, PermanentFailure, Sender
from nurture.service import Nurture
from nurture.settings import NurtureSettings
from services.db import UnitOfWork
from services.polling import PollingWorker

log = logging.getLogger(__name__)


class SendWorker(PollingWorker):
    """Sends the emails that came due, outside any transaction."""

    name = "send"

    def __init__(
        self, unit: UnitOfWork, nurture: Nurture, sender: Sender, settings: NurtureSettings
    ) -> None:
        super().__init__(settings.send_poll_interval_s)
        self.unit = unit
        self.nurture = nurture
        self.sender = sender
        self.settings = settings

    async def round(self) -> bool:
        return await self.run_once() >= self.settings.send_batch_size

    async def stop(self) -> None:
        await super().stop()
        await self.sender.close()

    async def run_once(self) -> int:
        """Send every due email once; returns how many were handed to the sender."""
        async with self.unit.read() as conn:
            # A read first: an idle round takes no write lock (SQLite has one writer).
            if not await self.nurture.sending.has_due_emails(conn):
                return 0
        async with self.unit.transaction() as tx:
            claimed = await self.nurture.sending.claim_emails(tx, self.settings.send_batch_size)
        # One lead's emails go one after the other, in the order of their steps (a lead
        # behind schedule never gets step 2 before step 1); different leads concurrently.
        by_lead: dict[str, list[OutgoingEmail]] = {}
        for email in claimed:
            by_lead.setdefault(email.lead_id, []).append(email)
        limit = asyncio.Semaphore(self.settings.send_concurrency)

        async def in_turn(emails: list[OutgoingEmail]) -> None:
            async with limit:
                for email in emails:
                    await self._send(email)

        await asyncio.gather(*(in_turn(emails) for emails in by_lead.values()))
        return len(claimed)

    async def _send(self, email: OutgoingEmail) -> None:
        try:
            accepted = await self.sender.send(email)
        except HardBounce as exc:
            async with self.unit.transaction() as tx:
                await self.nurture.sending.hard_bounced(tx, email, str(exc))
            return
        except PermanentFailure as exc:
            async with self.unit.transaction() as tx:
                await self.nurture.sending.send_failed(tx, email, str(exc), permanent=True)
            return
        except Exception as exc:  # noqa: BLE001 - any other failure is retried with backoff
            log.warning("email not sent (attempt %d), will retry: %r", email.attempt, exc)
            async with self.unit.transaction() as tx:
                await self.nurture.sending.send_failed(
                    tx, email, f"{type(exc).__name__}: {exc}", permanent=False
                )
            return
        async with self.unit.transaction() as tx:
            marked = await self.nurture.sending.sent(tx, email, accepted)
        if not marked:
            # Erased while it was being sent: drop the copy the sender keeps.
            await self.sender.erase([email.message_id])
