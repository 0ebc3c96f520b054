"""router: assigns sales-ready leads to reps and holds them to the contact cadence."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from contracts.events import ErasureRequested, LeadQualified
from services.crypto import SecretBox
from services.db import UnitOfWork
from services.erasure import skip_erased, skip_erased_batch
from services.reference import Reference
from services.settings import Settings
from services.spec import ServiceSpec


async def reseal_secrets(unit: UnitOfWork, box: SecretBox) -> None:
    """Subscription secrets and connector credentials stored plain (before they were
    sealed) or under an older key are sealed with the current key at start
    (docs/operations.md, rotating the secrets key)."""
    from router import repository
    from router.connectors import repository as connectors_repository

    async with unit.transaction() as tx:
        await repository.subscriptions.reseal_subscription_secrets(tx, box)
        await connectors_repository.connectors.reseal_credentials(tx, box)


def build(unit: UnitOfWork, settings: Settings) -> ServiceSpec:
    """Composition root."""
    from router.api import build_router
    from router.backtest_api import build_backtest_router
    from router.backtests import RouterBacktest
    from router.config import ROUTING
    from router.config import load as load_routing_config
    from router.connectors.accounts import AccountSyncWorker
    from router.connectors.api import build_connectors_router
    from router.connectors.worker import ConnectorWorker
    from router.consumers import Consumers
    from router.models import backtests as backtest_jobs
    from router.service import Router
    from router.settings import RouterSettings
    from router.sla import CADENCE_END, FIRST_TOUCH, HELD
    from router.webhooks import Announcer, WebhookWorker
    from services.backtests import BacktestJobs

    router_settings = RouterSettings()
    routing = Reference(unit.service, ROUTING, load_routing_config)
    announcer = Announcer(router_settings, routing)
    router = Router(router_settings, announcer, routing)
    box = settings.secret_box()
    worker = WebhookWorker(unit, router_settings, box=box)
    announcer.handoff = worker  # what this process queues is posted as it commits
    connectors = ConnectorWorker(unit, router_settings, routing, box)
    announcer.connectors = connectors
    account_syncs = AccountSyncWorker(unit, router_settings, routing, box)
    consumers = Consumers(router)
    backtests = BacktestJobs(unit, backtest_jobs)
    api = build_router(unit, router, box)
    api.include_router(build_connectors_router(unit, router, connectors, box, account_syncs))
    api.include_router(
        build_backtest_router(RouterBacktest(router, unit), backtests, settings.audit_url)
    )
    return ServiceSpec(
        name="router",
        router=api,
        handlers=skip_erased({ErasureRequested: consumers.on_erasure_requested}),
        batch_handlers=skip_erased_batch({LeadQualified: consumers.on_leads_qualified}),
        timer_handlers={
            FIRST_TOUCH: router.on_first_touch_due,
            CADENCE_END: router.on_cadence_due,
            HELD: router.on_held_due,
        },
        workers=[worker, connectors, account_syncs, backtests],
        migrations=Path(__file__).parent / "migrations",
        on_start=[partial(reseal_secrets, unit, box), backtests.on_start],
    )
