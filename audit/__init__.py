"""audit: keeps every event and every lead's whole story, asks prospects how they were
treated (Prospect Satisfaction audits), keeps the forecast, and computes the numbers that
settle arguments between marketing and sales."""

from __future__ import annotations

from pathlib import Path

from contracts.events import EVENT_TYPES
from services.db import UnitOfWork
from services.settings import Settings
from services.spec import ServiceSpec


def build(unit: UnitOfWork, settings: Settings) -> ServiceSpec:
    """Composition root: audit handles every event type on every topic, with one batch
    handler (a run of consecutive events of any types is archived and projected together)."""
    from audit.api import build_router
    from audit.archive import Archive
    from audit.consumers import Consumers
    from audit.deps import Services
    from audit.forecast import Forecast
    from audit.reports.service import Reports
    from audit.satisfaction_audits import SatisfactionAudits
    from audit.settings import AuditSettings

    audit_settings = AuditSettings()
    forecast = Forecast(audit_settings)
    satisfaction_audits = SatisfactionAudits(audit_settings)
    archive = Archive(audit_settings, forecast, satisfaction_audits)
    # One handler for every type: the runner hands it each run of consecutive events.
    on_events = Consumers(archive).on_events
    return ServiceSpec(
        name="audit",
        router=build_router(
            Services(unit, audit_settings, forecast, satisfaction_audits, Reports(audit_settings))
        ),
        batch_handlers=dict.fromkeys(EVENT_TYPES.values(), on_events),
        any_topic=True,
        batch_linger_s=audit_settings.batch_linger_s,
        migrations=Path(__file__).parent / "migrations",
    )
