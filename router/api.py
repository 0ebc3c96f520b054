"""The router's HTTP API under /router/v1.

Manager scope: reps, teams, accounts, pools, rules, the dry run, the queue, webhook
subscriptions. Rep scope: a rep's own leads (their queue, the assignment, activities,
accept, reject, opportunities) and their compliance; another rep's lead looks missing.
"""

from __future__ import annotations

from fastapi import APIRouter

from router.routes import configuration, leads, reps, subscriptions, teams
from router.routes.deps import RouterDeps, bound
from router.service import Router
from services.crypto import SecretBox
from services.db import UnitOfWork


def build_router(unit: UnitOfWork, router_: Router, box: SecretBox) -> APIRouter:
    """The routes of router/routes/ under /router/v1, in the order they are matched (a
    rule's `/rules/history` before the rule `{rule_id}`), each given `RouterDeps`."""
    deps = RouterDeps.of(unit, router_, box)
    router = APIRouter(prefix="/router/v1", tags=["router"], dependencies=[bound.to(deps)])
    for module in (reps, teams, configuration, leads, subscriptions):
        router.include_router(module.routes)
    return router
