"""The dependency of the router's routes: what they use, as one `Annotated` type
(`deps: Deps`), which `api.build_router` binds to each request (`services/binding.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from router.service import Router
from services.binding import Binding
from services.crypto import SecretBox
from services.db import UnitOfWork


@dataclass(frozen=True)
class RouterDeps:
    """The router's unit of work, its domain (`Router`, with its settings) and the box that
    seals and opens webhook secrets."""

    unit: UnitOfWork
    router: Router
    box: SecretBox


bound = Binding[RouterDeps]("router")
Deps = Annotated[RouterDeps, Depends(bound)]
