"""The dependency of the router's routes: what they use, as one `Annotated` type
(`deps: Deps`), which `api.build_router` binds to each request (`services/binding.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from router.configuration import Configuration
from router.reps import Reps
from router.service import Router
from router.subscriptions import Subscriptions
from router.teams import Teams
from services.binding import Binding
from services.crypto import SecretBox
from services.db import UnitOfWork


@dataclass(frozen=True)
class RouterDeps:
    """The router's unit of work, its domain (`Router`, with its settings: the leads, reps'
    compliance, routing), the parts managers configure it with (reps, teams and accounts,
    pools and rules, webhook subscriptions) and the box that seals and opens webhook
    secrets."""

    unit: UnitOfWork
    router: Router
    box: SecretBox
    reps: Reps
    teams: Teams
    configuration: Configuration
    subscriptions: Subscriptions

    @classmethod
    def of(cls, unit: UnitOfWork, router: Router, box: SecretBox) -> RouterDeps:
        settings = router.settings
        return cls(
            unit,
            router,
            box,
            Reps(),
            Teams(),
            Configuration(settings),
            Subscriptions(settings, box),
        )


bound = Binding[RouterDeps]("router")
Deps = Annotated[RouterDeps, Depends(bound)]
