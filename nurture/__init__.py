"""nurture: keeps in touch with long-term and returned leads on tracks, with consent, and
hands them back to the qualifier (`lead.recycled`) when they warm up."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from contracts.events import (
    ErasureRequested,
    LeadDeferred,
    LeadDisqualified,
    LeadQualified,
    LeadReturned,
)
from services.crypto import SecretBox
from services.db import UnitOfWork
from services.erasure import skip_erased, skip_erased_batch
from services.settings import Settings
from services.spec import ServiceSpec


async def reseal_secrets(unit: UnitOfWork, box: SecretBox) -> None:
    """The link-signing key stored plain (before it was sealed) or under an older key is
    sealed with the current key at start (docs/operations.md, rotating the secrets key)."""
    from nurture.repository import keys

    async with unit.transaction() as tx:
        await keys.reseal_signing_key(tx, box)


def build(unit: UnitOfWork, settings: Settings) -> ServiceSpec:
    """Composition root. Refuses to start with a tracks file that does not validate."""
    from nurture.api import build_router
    from nurture.catalog import TrackCatalog
    from nurture.consumers import Consumers
    from nurture.definitions import DEFAULT_FILE, load_file
    from nurture.senders import build_sender
    from nurture.service import Nurture
    from nurture.settings import NurtureSettings
    from nurture.tracks import TOUCH
    from nurture.worker import SendWorker

    nurture_settings = NurtureSettings()
    path = nurture_settings.tracks_file or DEFAULT_FILE
    catalog = TrackCatalog(load_file(path), path.name)
    box = settings.secret_box()
    nurture = Nurture(catalog, nurture_settings, unit.clock, box=box)
    sender = build_sender(nurture_settings, settings.data_dir)
    worker = SendWorker(unit, nurture, sender, nurture_settings)
    nurture.sending.nudge = worker.wake
    consumers = Consumers(nurture, sender)
    return ServiceSpec(
        name="nurture",
        router=build_router(unit, nurture, sender),
        handlers=skip_erased(
            {
                LeadDeferred: consumers.on_lead_deferred,
                LeadReturned: consumers.on_lead_returned,
                ErasureRequested: consumers.on_erasure_requested,
            },
        ),
        batch_handlers=skip_erased_batch(
            {
                LeadQualified: consumers.on_leads_decided,
                LeadDisqualified: consumers.on_leads_decided,
            },
        ),
        timer_handlers={TOUCH: consumers.on_touch_due},
        workers=[worker],
        batch_linger_s=nurture_settings.batch_linger_s,
        migrations=Path(__file__).parent / "migrations",
        on_start=[partial(reseal_secrets, unit, box)],
    )
