"""The router's layout (issue 17): small modules a newcomer can guess, domain records apart
from the HTTP bodies, one explanation type, routes that are module functions."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

import pytest

ROUTER = Path(__file__).resolve().parents[3] / "router"


def _modules() -> dict[str, str]:
    return {
        path.relative_to(ROUTER).as_posix(): path.read_text()
        for path in sorted(ROUTER.rglob("*.py"))
        if "migrations" not in path.parts
    }


def _calls(text: str) -> set[str]:
    """The names of the functions and methods a module calls (`a.b.c(` gives `c`)."""
    return {
        node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
    }


def test_no_module_is_over_500_lines() -> None:
    long = {name: text.count("\n") for name, text in _modules().items() if text.count("\n") > 500}
    assert not long, f"split these along their seams: {long}"


ROUTE_MODULES = re.compile(r"^(routes/.*|api\.py|backtest_api\.py|connectors/api[^/]*\.py)$")
"""The router's route modules: routes/ by noun, api.py (/router/v1), the backtests' and the
connectors' routes."""


def _route_modules() -> dict[str, str]:
    found = {name: text for name, text in _modules().items() if ROUTE_MODULES.match(name)}
    assert {"api.py", "backtest_api.py", "connectors/api.py", "routes/leads.py"} <= set(found)
    return found


def _routes_inside_builders(text: str) -> list[str]:
    """The routes (decorated functions) a module's `build_*router` functions define inside
    themselves."""
    return [
        f"{outer.name}: {node.name}"
        for outer in ast.parse(text).body
        if isinstance(outer, ast.FunctionDef)
        and outer.name.startswith("build")
        and outer.name.endswith("router")
        for node in ast.walk(outer)
        if node is not outer
        and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.decorator_list
    ]


def _route_functions(text: str) -> list[ast.AsyncFunctionDef]:
    """A module's routes: its functions decorated by its `routes` APIRouter."""
    return [
        node
        for node in ast.parse(text).body
        if isinstance(node, ast.AsyncFunctionDef)
        and any(
            isinstance(d, ast.Call)
            and isinstance(d.func, ast.Attribute)
            and isinstance(d.func.value, ast.Name)
            and d.func.value.id == "routes"
            for d in node.decorator_list
        )
    ]


def test_routes_are_module_functions() -> None:
    """Routes are module functions with their dependency declared first (`deps: Deps`),
    in router/routes/ and the backtests' and connectors' API modules alike; a
    `build_*router` only wires them (with services/backtests.py's shared job routes)."""
    closures = {
        name: nested
        for name, text in _modules().items()
        if (nested := _routes_inside_builders(text))
    }
    assert not closures, f"routes defined inside a build_router: {closures}"
    for name, text in _route_modules().items():
        for node in _route_functions(text):
            assert node.args.args[0].arg == "deps", (name, node.name)
    for name in ("backtest_api.py", "connectors/api.py"):
        assert _route_functions(_modules()[name]), f"{name} has no module-level routes"


CLOSURE = """
def build_router(unit):
    router = APIRouter()

    @router.get("/x")
    async def x():
        return unit

    return router
"""


def test_the_closure_check_sees_what_it_looks_for() -> None:
    assert _routes_inside_builders(CLOSURE) == ["build_router: x"]
    assert _routes_inside_builders(CLOSURE.replace("build_router", "build_connectors_router"))
    unrouted = "def build_router(unit):\n    async def work():\n        pass\n"
    assert _routes_inside_builders(unrouted) == []


def test_routes_get_their_objects_through_the_chassis_binding() -> None:
    """`Deps` is services/binding.py's `Binding` (as nurture's), not the router's own
    dependency reading `request.state`."""
    from router.routes import deps
    from services.binding import Binding

    assert isinstance(deps.bound, Binding)
    by_hand = [name for name, text in _modules().items() if "request.state" in text]
    assert not by_hand, f"objects handed to routes by hand: {by_hand}"


def test_the_domain_is_split_along_its_seams() -> None:
    """service.py only composes the parts: router/service.py was one class of ten sections."""
    service = ast.parse((ROUTER / "service.py").read_text())
    [router] = [n for n in service.body if isinstance(n, ast.ClassDef)]
    assert router.name == "Router"
    assert not [n for n in router.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert (ROUTER / "repository").is_dir()
    assert not (ROUTER / "repository.py").exists()


def test_refusals_are_the_chassis_domain_errors() -> None:
    """The domain raises services/errors.py's subclass that says why (`NotFound`,
    `Conflict`, `Invalid` naming the field), which the app's handler answers; the router has
    no error type, wrapper or problem builder of its own for them."""
    assert not (ROUTER / "errors.py").exists()
    own = [
        name
        for name, text in _modules().items()
        if re.search(r"\bRefused\b|\brefusals\(|def invalid\(", text)
    ]
    assert not own, f"refusals not raised as services.errors: {own}"


def test_the_first_touch_deadline_is_computed_in_sla_py_only() -> None:
    """A newcomer looks for the first-touch deadline in sla.py (`deadlines`), and finds it
    there and nowhere else."""
    computing = [
        name
        for name, text in _modules().items()
        if re.search(r"add_minutes\([^)]*first_touch_minutes", text)
    ]
    assert computing == ["sla.py"]
    from router import sla

    assert "first-touch deadline" in (sla.deadlines.__doc__ or "")


def test_the_round_robin_cursor_advances_where_the_docs_say() -> None:
    """The distribution picks the next rep in turn and says the new cursor; the routing
    state records it (docs/architecture.md names both)."""
    modules = _modules()
    picking = [name for name, text in modules.items() if "def _round_robin(" in text]
    assert picking == ["distribution.py"]
    recording = [n for n, text in modules.items() if "self.cursors[pool] = pick.cursor" in text]
    assert recording == ["state.py"]
    architecture = (ROUTER.parent / "docs" / "architecture.md").read_text()
    assert "distribution.py: _round_robin" in architecture
    assert "state.py: RoutingState.assigned" in architecture
    assert "first-touch deadline is computed** (`deadlines`" in architecture


def test_statuses_are_literal_types() -> None:
    from router import records

    for record, field in [
        (records.LeadRecord, "status"),
        (records.AssignmentRecord, "first_touch"),
        (records.AssignmentRecord, "cadence"),
        (records.HistoryEntry, "first_touch"),
        (records.Opportunity, "status"),
        (records.WebhookDelivery, "status"),
    ]:
        hint = typing.get_type_hints(record)[field]
        assert typing.get_origin(hint) is typing.Literal, (record.__name__, field, hint)
    ignored = [name for name, text in _modules().items() if "type: ignore[arg-type]" in text]
    assert not ignored, f"statuses passed to the schemas with a type: ignore: {ignored}"


def test_an_explanation_is_built_in_one_place() -> None:
    """The pool's decision and a manager's choice explain themselves through
    explanation.explain: no module spells an explanation's keys by hand."""
    by_hand = [
        name
        for name, text in _modules().items()
        if name != "explanation.py" and re.search(r"[\"']decided_at[\"']\s*:", text)
    ]
    assert not by_hand
    builders = [name for name, text in _modules().items() if "explain" in _calls(text)]
    assert sorted(builders) == ["decisions.py", "lead_actions.py"]


def test_an_explanation_keeps_the_shape_the_router_has_always_stored() -> None:
    """The JSON stored with leads and assignments and shown by the API keeps its keys, in
    their order: a pool's decision (with the account for account_owner_first) and a
    manager's choice (without outside_hours, excluded and held_until)."""
    from datetime import UTC, datetime

    from router.explanation import explain
    from router.sla import Sla

    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    sla = Sla(
        first_touch_minutes=60,
        calls=3,
        emails=2,
        business_days=5,
        min_spacing_minutes=60,
        reassign_on_missed_first_touch=True,
        max_reassignments=2,
    )
    common: dict[str, typing.Any] = {
        "now": now,
        "trigger": "lead.qualified",
        "outcome": "assign",
        "rule": {"id": "r", "name": "R"},
        "rules_checked": [],
        "pool": "p",
        "strategy": "round_robin",
        "strategy_used": "round_robin",
        "considered": [],
        "chosen": "ana",
        "why": "first in turn",
        "first_touch_due_at": now,
        "cadence_due_at": None,
        "sla": sla,
    }
    pools = explain(
        **common,
        pool_choice={"outside_hours": "assign", "excluded": ["bo"], "held_until": None},
        account={"domain": "acme.example", "owner": None},
    )
    assert list(pools) == [
        *("decided_at", "trigger", "outcome", "rule", "rules_checked", "pool", "strategy"),
        *("strategy_used", "outside_hours", "excluded", "considered", "chosen", "why"),
        *("held_until", "first_touch_due_at", "cadence_due_at", "sla", "account"),
    ]
    assert pools["decided_at"] == now.isoformat()
    assert pools["held_until"] is None
    assert pools["cadence_due_at"] is None
    assert pools["excluded"] == ["bo"]
    assert pools["sla"] == sla.model_dump()
    manual = explain(**common)
    assert list(manual) == [
        *("decided_at", "trigger", "outcome", "rule", "rules_checked", "pool", "strategy"),
        *("strategy_used", "considered", "chosen", "why", "first_touch_due_at"),
        *("cadence_due_at", "sla"),
    ]


HTTP_EDGES = (
    *("schemas/", "routes/", "api.py", "backtest_api.py"),
    *("connectors/api.py", "connectors/schemas.py", "connectors/inbound.py"),
)
"""Modules that speak HTTP: the bodies, the routes, and the connectors' API and inbound
webhooks (which check a vendor's activity as the API checks a rep's, `ActivityIn`)."""


def test_the_repository_and_the_domain_never_import_the_http_bodies() -> None:
    """The repository returns records.py's records and the domain works with them (and
    takes commands as records: `NewActivity`, `Rejection`...); the routes make the HTTP
    bodies of them (`RepOut.of(record)`). The connectors alike: their repository returns
    connectors/records.py's (`ConnectorDelivery`), their domain works with them
    (`AccountSyncStatus`), and their routes make connectors/schemas.py's bodies of them."""
    knowing = [
        name
        for name, text in _modules().items()
        if not name.startswith(HTTP_EDGES)
        and re.search(
            r"^\s*(from router(\.connectors)?\.schemas\b|import router(\.connectors)?\.schemas\b"
            r"|from router(\.connectors)? import (.*\b)?schemas\b)",
            text,
            re.M,
        )
    ]
    assert not knowing, f"domain or repository modules importing the HTTP bodies: {knowing}"


REPOSITORIES = ("router.repository", "router.connectors.repository")


def _repository_imports(text: str) -> list[str]:
    """The router's or the connectors' repository modules a module imports."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [
            name
            for name in names
            if any(name == r or name.startswith(r + ".") for r in REPOSITORIES)
        ]
    return found


def test_routes_call_the_domain_never_the_repository() -> None:
    """Routes call the domain (`deps.router`, `deps.reps`, `deps.teams`,
    `deps.configuration`, `deps.subscriptions`; the connectors' `deps.connectors` and
    `deps.inbound`; the backtests' `deps.backtest`), which reads and writes through the
    repository; no route module imports or names it, the connectors' repository included."""
    routes = _route_modules()
    importing = {
        name: found for name, text in routes.items() if (found := _repository_imports(text))
    }
    assert not importing, f"routes importing a repository: {importing}"
    reaching = [name for name, text in routes.items() if re.search(r"\brepository\b", text)]
    assert not reaching, f"routes calling the repository: {reaching}"


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from router import repository\n", ["router.repository"]),
        ("from router.connectors import KINDS, repository\n", ["router.connectors.repository"]),
        (
            "from router.connectors.repository.connectors import X\n",
            [
                "router.connectors.repository.connectors",
                "router.connectors.repository.connectors.X",
            ],
        ),
        ("import router.repository.leads\n", ["router.repository.leads"]),
        ("from router.repository_notes import x\nfrom router import records\n", []),
    ],
)
def test_the_repository_check_sees_what_it_looks_for(source: str, found: list[str]) -> None:
    assert _repository_imports(source) == found
