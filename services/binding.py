"""Binding a service's objects to its routes, so routes are module functions that name what
they use as an `Annotated` dependency instead of closures inside a `build_router`.

    bound = Binding[NurtureDeps]("nurture")
    Deps = Annotated[NurtureDeps, Depends(bound)]          # what a route declares

    @routes.get("/x")
    async def x(deps: Deps) -> ...: ...

    def build_router(...) -> APIRouter:                    # the composition root calls it
        router = APIRouter(prefix=..., dependencies=[bound.to(NurtureDeps(...))])
        router.include_router(routes)

The objects ride on the request (`request.state`), set by the router that took it: one
process may hold several instances of a service (the embedded runtime, the tests), each
with its own database, so a module-level global would not do.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from fastapi import Depends, Request

T = TypeVar("T")


class Binding(Generic[T]):
    """The dependency that hands a route its service's objects (`Depends(binding)`), and
    `to(objects)`, the router dependency that binds them to each request."""

    def __init__(self, name: str) -> None:
        self.attribute = f"leadfarm_{name}"

    async def __call__(self, request: Request) -> T:
        try:
            bound: T = getattr(request.state, self.attribute)
        except AttributeError:
            raise LookupError(
                f"{self.attribute} is not bound: include the routes through build_router"
            ) from None
        return bound

    def to(self, objects: T) -> Any:
        """A router-level dependency (`APIRouter(dependencies=[binding.to(objects)])`) that
        binds `objects` to each request it takes; a router's dependencies run before its
        routes' own."""
        attribute = self.attribute

        async def bind(request: Request) -> None:
            setattr(request.state, attribute, objects)

        return Depends(bind)
