"""ingest and the qualifier are packages a newcomer can hold in their head (issue 17): no
module over 500 lines, their routes module functions bound to one service's state."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import get_args

import httpx
from fastapi import FastAPI

from ingest import api, sources_api
from ingest.providers.base import Source
from qualifier import api as qualifier_api
from qualifier import backtest_api
from services.auth import AdminKey

ADMIN = get_args(AdminKey)[1].dependency

REPO = Path(__file__).parents[3]
MAX_LINES = 500


def test_no_module_of_ingest_or_the_qualifier_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for package in ("ingest", "qualifier")
        for path in (REPO / package).rglob("*.py")
        if "migrations" not in path.parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


def test_ingest_routes_are_module_functions_not_closures() -> None:
    tree = ast.parse((REPO / "ingest" / "api.py").read_text(encoding="utf-8"))
    (build,) = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == "build_router"
    ]
    nested = [
        node.name
        for node in ast.walk(build)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node is not build
    ]
    assert sorted(nested) == ["prepare"]
    paths = {getattr(r, "path", "") for r in [*api.routes.routes, *sources_api.routes.routes]}
    assert {"/ingest/v1/leads", "/ingest/v1/webhooks/{name}", "/ingest/v1/sources"} <= paths


def test_qualifier_routes_are_module_functions_not_closures() -> None:
    """The qualifier's routes are module functions taking what they use as an `Annotated`
    dependency bound by `Binding`; `build_router` only builds the router."""
    closures = {
        name: nested
        for name in ("qualifier/api.py", "qualifier/backtest_api.py")
        for tree in [ast.parse((REPO / name).read_text(encoding="utf-8"))]
        for nested in [
            [
                node.name
                for outer in tree.body
                if isinstance(outer, ast.FunctionDef | ast.AsyncFunctionDef)
                for node in ast.walk(outer)
                if node is not outer
                and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.decorator_list
            ]
        ]
        if nested
    }
    assert not closures, closures
    paths = {
        getattr(r, "path", "") for r in [*qualifier_api.routes.routes, *backtest_api.routes.routes]
    }
    assert {"/definitions", "/leads/{lead_id}/decision", "/model", "/backtests"} <= paths


async def test_each_router_hands_its_routes_its_own_service_state() -> None:
    """Two ingest services in one process (replicas in a test) never share state: each
    router's source is found only in its own catalog (the other would go to its database,
    which these have none of)."""

    def app_with(source_name: str) -> httpx.AsyncClient:
        source = Source(source_name, "form", {}, {}, None, "marketing", None)
        catalog = SimpleNamespace(from_env={source_name: source})
        router, _ = api.build_router(
            unit=None,  # type: ignore[arg-type]  # not reached: the source is from the environment
            catalog=catalog,  # type: ignore[arg-type]
            limiter=None,  # type: ignore[arg-type]
            unverified_limiter=None,  # type: ignore[arg-type]
            settings=None,  # type: ignore[arg-type]
        )
        app = FastAPI()
        app.include_router(router)
        app.dependency_overrides[ADMIN] = lambda: None
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    async with app_with("first") as first, app_with("second") as second:
        assert (await first.get("/ingest/v1/sources/first")).json()["name"] == "first"
        assert (await second.get("/ingest/v1/sources/second")).json()["name"] == "second"


HTTP_MODULES = {
    "ingest/api.py",
    "ingest/sources_api.py",
    "ingest/bodies.py",
    "ingest/intake.py",  # checks the generic API's posted body (LeadIn) before its round
    "qualifier/api.py",
    "qualifier/backtest_api.py",
}


def test_domain_code_and_repositories_use_records_not_http_bodies() -> None:
    """Only the HTTP modules import `schemas`: the repositories return domain records and
    the services take them (a provider's lead is a SubmittedLead, not the API's LeadIn)."""
    importing = set()
    for package in ("ingest", "qualifier"):
        for path in (REPO / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                if isinstance(node, ast.ImportFrom) and node.module == package:
                    names = [f"{package}.{a.name}" for a in node.names]
                if f"{package}.schemas" in names:
                    importing.add(str(path.relative_to(REPO)))
    assert importing <= HTTP_MODULES, importing - HTTP_MODULES
