"""The chassis's one domain-error type: whatever a service's domain refuses is answered as an
RFC 9457 problem with the refusal's status (and the field, for `Invalid`), by the handler
every service's app installs, and a service's objects reach its routes through `Binding`."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI
from httpx import ASGITransport, AsyncClient

from services.binding import Binding
from services.errors import Conflict, DomainError, FieldError, Invalid, NotAllowed, NotFound
from services.problems import install_problem_handlers

bound = Binding[dict[str, DomainError]]("test")
Refusals = Annotated[dict[str, DomainError], Depends(bound)]
routes = APIRouter()


@routes.get("/refuse/{name}")
async def refuse(name: str, refusals: Refusals) -> None:
    raise refusals[name]


def app_with(refusals: dict[str, DomainError]) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    router = APIRouter(prefix="/v1", dependencies=[bound.to(refusals)])
    router.include_router(routes)
    app.include_router(router)
    return app


REFUSALS: dict[str, DomainError] = {
    "missing": NotFound("There is no rep 'r-9'."),
    "busy": Conflict("The lead is already closed."),
    "forbidden": NotAllowed("Only a sales executive approves removal."),
    "bad": Invalid("amount", "must be positive", "The deal's amount must be positive."),
}


@pytest.mark.parametrize(
    ("name", "status"), [("missing", 404), ("busy", 409), ("forbidden", 403), ("bad", 422)]
)
async def test_a_domain_refusal_is_a_problem_with_its_status(name: str, status: int) -> None:
    async with AsyncClient(
        transport=ASGITransport(app_with(REFUSALS)), base_url="http://t"
    ) as http:
        answer = await http.get(f"/v1/refuse/{name}")
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == status
    assert body["detail"] == REFUSALS[name].detail
    assert body["instance"] == f"/v1/refuse/{name}"


async def test_an_invalid_field_is_named_in_the_problem() -> None:
    async with AsyncClient(
        transport=ASGITransport(app_with(REFUSALS)), base_url="http://t"
    ) as http:
        body = (await http.get("/v1/refuse/bad")).json()
    assert body["errors"] == [
        {"field": "amount", "pointer": "/amount", "message": "must be positive"}
    ]


async def test_any_refusal_may_name_the_fields_it_is_about() -> None:
    """A 404 or 409 may name its field too, and a refusal of several fields names each
    (with the line, for a field of a text document the request carried)."""

    class Unreadable(DomainError):
        status = 422

    refusals: dict[str, DomainError] = {
        "gone": NotFound("no email 'm-1'", errors=[FieldError("message_id", "no email 'm-1'")]),
        "lines": Unreadable(
            "The definitions are not valid (2 problems).",
            errors=[FieldError("version", "is required", 1), FieldError("points.x", "no", 7)],
        ),
    }
    async with AsyncClient(
        transport=ASGITransport(app_with(refusals)), base_url="http://t"
    ) as http:
        gone = await http.get("/v1/refuse/gone")
        lines = await http.get("/v1/refuse/lines")
    assert (gone.status_code, gone.json()["errors"]) == (
        404,
        [{"field": "message_id", "pointer": "/message_id", "message": "no email 'm-1'"}],
    )
    assert (lines.status_code, lines.json()["errors"]) == (
        422,
        [
            {"field": "version", "pointer": "/version", "message": "is required", "line": "1"},
            {"field": "points.x", "pointer": "/points/x", "message": "no", "line": "7"},
        ],
    )


async def test_each_router_binds_its_own_objects() -> None:
    """Two instances of a service in one process (the embedded runtime, the tests) each
    hand their routes their own objects."""
    first = app_with({"x": Conflict("first")})
    second = app_with({"x": Conflict("second")})
    for app, detail in ((first, "first"), (second, "second")):
        async with AsyncClient(transport=ASGITransport(app), base_url="http://t") as http:
            assert (await http.get("/v1/refuse/x")).json()["detail"] == detail
