"""The dependency of the router's routes: what they use, as one `Annotated` type
(`deps: Deps`), which `api.build_router` binds to each request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from router.service import Router
from services.crypto import SecretBox
from services.db import UnitOfWork


@dataclass(frozen=True)
class RouterDeps:
    """The router's unit of work, its domain (`Router`, with its settings) and the box that
    seals and opens webhook secrets."""

    unit: UnitOfWork
    router: Router
    box: SecretBox


async def _deps(request: Request) -> RouterDeps:
    deps: RouterDeps = request.state.router_deps  # set by build_router's router
    return deps


Deps = Annotated[RouterDeps, Depends(_deps)]
