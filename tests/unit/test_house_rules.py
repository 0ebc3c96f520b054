"""Four of docs/architecture.md's house rules, checked on the source (issue 17, items 3 and 6):

- all SQL of a service is in its repository modules: nothing else in a service package
  builds a statement or executes one;
- a transaction belongs to the request or the message: only entry points (routes, consumers,
  composition roots, background workers) open one; domain and repository code never do;
- what a service's domain refuses is a `DomainError` (services/errors.py), answered by the
  chassis's one handler: no service turns an exception of its own into a `Problem` by hand;
- routes call the service's domain: no route module imports its service's repository;
- repositories return domain records: no repository function returns a `dict[str, Any]`
  (or a list or map of them) standing for a domain thing, and no repository builds an HTTP
  body (`schemas`).

Each exception is listed with the reason it is one. A new module that needs to be one is
added here, in review, not silently."""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE_PACKAGES = ("ingest", "qualifier", "router", "nurture", "audit")

SQL_BUILDERS = frozenset(
    {"select", "insert", "update", "delete", "text", "func", "bindparam", "and_", "or_",
     "tuple_", "exists", "union", "union_all", "literal", "case", "cast"}
)  # fmt: skip
"""What builds a statement, imported from `sqlalchemy` (or a dialect's `insert`)."""

SQL_MODULES = {"repository.py", "models.py"}
"""Where a service's SQL lives: its tables and its repositories (a `repository/` package's
modules are repository modules too)."""

SQL_ALSO_IN = {
    "ingest/roundstore.py": "the group-commit round's reads and deferred writes, one "
    "statement per table for many requests (a repository of its own)",
}

ENTRY_POINTS = {"api.py", "consumers.py", "__init__.py", "worker.py"}
"""Modules that own a unit of work: routes, event handlers, composition roots, workers (and
a `routes/` package's modules, the router's routes by noun)."""

TRANSACTIONS_ALSO_IN = {
    "ingest/fetcher.py": "the fetch worker (a background worker)",
    "ingest/sources_api.py": "the sources' routes (ingest's api.py, split off)",
    "router/webhooks.py": "the webhook sender (a background worker)",
    "router/connectors/inbound.py": "a vendor's webhook logs each activity in a transaction "
    "of its own, so one refused activity does not refuse the others",
    "router/connectors/accounts.py": "the account sync (a background worker): each page of "
    "the CRM's accounts is written in a transaction of its own with the cursor after it",
    "qualifier/catalog.py": "seed stores the start-up definitions at start (an on_start hook "
    "of the composition root)",
}


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for package in SERVICE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative:
                continue
            yield relative, ast.parse(path.read_text(), relative)


def _sql_in(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [
                f"imports {alias.name} from {node.module} (line {node.lineno})"
                for alias in node.names
                if alias.name in SQL_BUILDERS
            ]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"execute", "scalar", "scalars", "exec_driver_sql"}
        ):
            found.append(f"calls .{node.func.attr}() (line {node.lineno})")
    return found


def _transactions_in(tree: ast.Module) -> list[str]:
    return [
        f"opens a transaction (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "transaction"
        and not node.args
    ]


def test_sql_is_only_in_repositories() -> None:
    wrong = {
        name: found
        for name, tree in _modules()
        if Path(name).name not in SQL_MODULES
        and Path(name).parent.name != "repository"
        and name not in SQL_ALSO_IN
        for found in [_sql_in(tree)]
        if found
    }
    assert not wrong, (
        f"SQL outside a service's repository modules (docs/architecture.md, House rules): {wrong}"
    )


def test_only_entry_points_open_transactions() -> None:
    wrong = {
        name: found
        for name, tree in _modules()
        if Path(name).name not in ENTRY_POINTS
        and Path(name).parent.name != "routes"
        and name not in TRANSACTIONS_ALSO_IN
        for found in [_transactions_in(tree)]
        if found
    }
    assert not wrong, (
        f"a transaction opened outside an entry point (docs/architecture.md, House rules): {wrong}"
    )


@pytest.mark.parametrize(
    ("source", "sql", "transactions"),
    [
        ("from sqlalchemy import select\n", 1, 0),
        ("from sqlalchemy.dialects.sqlite import insert\n", 1, 0),
        ("async def f(conn):\n    await conn.execute(q)\n", 1, 0),
        ("async def f(unit):\n    async with unit.transaction() as tx:\n        pass\n", 0, 1),
        ("from sqlalchemy.ext.asyncio import AsyncConnection\n", 0, 0),
    ],
)
def test_the_checks_see_what_they_look_for(source: str, sql: int, transactions: int) -> None:
    tree = ast.parse(source)
    assert (len(_sql_in(tree)), len(_transactions_in(tree))) == (sql, transactions)


CHASSIS_EXCEPTIONS = frozenset(
    node.name
    for path in (ROOT / "services").rglob("*.py")
    for node in ast.walk(ast.parse(path.read_text(), path.name))
    if isinstance(node, ast.ClassDef)
)
"""The chassis's classes (its exceptions among them: `DomainError`, `NotFound`, ...), which
a service's exceptions may derive from."""


def _name(node: ast.expr) -> str:
    """`X` of `X`, `module.X` or `X(...)`."""
    if isinstance(node, ast.Call):
        return _name(node.func)
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _is_exception(base: str, known: set[str]) -> bool:
    builtin = getattr(builtins, base, None)
    return (
        (isinstance(builtin, type) and issubclass(builtin, BaseException))
        or base in known
        or base in CHASSIS_EXCEPTIONS
        or base.endswith(("Error", "Exception"))
    )


def _translated_by_hand(trees: Sequence[ast.Module]) -> list[str]:
    """The exceptions a package defines that it only ever turns into a `Problem`: every
    `except` that catches one ends by raising a new `Problem` (or what a function returning
    `Problem` makes). Such a refusal is a DomainError the chassis answers. (One caught
    elsewhere for another purpose, as a retry or at start-up, is not only a refusal.)"""
    classes = [n for tree in trees for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    ours: set[str] = set()
    while True:  # a class deriving from one of ours is ours too
        more = {c.name for c in classes if any(_is_exception(_name(b), ours) for b in c.bases)}
        if more <= ours:
            break
        ours |= more
    makers = {"Problem"} | {
        n.name
        for tree in trees
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        and n.returns is not None
        and _name(n.returns) == "Problem"
    }
    answers: dict[str, list[bool]] = {}
    for tree in trees:
        for handler in ast.walk(tree):
            if not isinstance(handler, ast.ExceptHandler) or handler.type is None:
                continue
            caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            last = handler.body[-1]
            problem = (
                isinstance(last, ast.Raise)
                and isinstance(last.exc, ast.Call)
                and _name(last.exc) in makers
            )
            for name in {_name(c) for c in caught} & ours:
                answers.setdefault(name, []).append(problem)
    return sorted(name for name, problems in answers.items() if all(problems))


def _package_trees() -> dict[str, list[ast.Module]]:
    trees: dict[str, list[ast.Module]] = {}
    for name, tree in _modules():
        trees.setdefault(name.split("/")[0], []).append(tree)
    return trees


TRANSLATED_ALSO: dict[str, dict[str, str]] = {}


def test_domain_refusals_are_answered_by_the_chassis() -> None:
    trees = _package_trees()
    assert set(trees) == set(SERVICE_PACKAGES)
    wrong = {
        package: found
        for package, modules in trees.items()
        if (
            found := [
                name
                for name in _translated_by_hand(modules)
                if name not in TRANSLATED_ALSO.get(package, {})
            ]
        )
    }
    assert not wrong, (
        "exceptions a service only ever turns into a Problem by hand; make each a DomainError "
        f"(services/errors.py) and let the chassis answer it (docs/architecture.md): {wrong}"
    )


TRANSLATED = """
class Gone(LookupError):
    pass

class Late(Gone):
    pass

def problem(exc: Gone) -> Problem:
    return Problem(404, str(exc))
"""


@pytest.mark.parametrize(
    ("source", "found"),
    [
        (
            TRANSLATED
            + "try:\n    f()\nexcept Gone as exc:\n    raise Problem(404, 'x') from exc\n",
            ["Gone"],
        ),
        (
            TRANSLATED + "try:\n    f()\nexcept (Late, KeyError) as exc:\n    raise problem(exc)\n",
            ["Late"],
        ),
        (
            TRANSLATED
            + "try:\n    f()\nexcept Gone:\n    raise problems.Problem(404, 'x')\n"
            + "try:\n    f()\nexcept Gone as exc:\n    raise ValueError('at start') from exc\n",
            [],
        ),
        ("try:\n    f()\nexcept KeyError:\n    raise Problem(404, 'x')\n", []),
        (TRANSLATED + "try:\n    f()\nexcept Gone as exc:\n    raise exc.problem from exc\n", []),
        (
            TRANSLATED + "try:\n    f()\nexcept Gone:\n    if x:\n        raise Problem(503, 'x')\n"
            "    g()\n",
            [],
        ),
        ("class Gone(NotFound):\n    pass\n\ndef f():\n    raise Gone('x')\n", []),
    ],
)
def test_the_refusal_check_sees_what_it_looks_for(source: str, found: list[str]) -> None:
    assert _translated_by_hand([ast.parse(source)]) == found


ROUTE_DECORATORS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "api_route", "websocket"}
)

REPOSITORY_IN_ROUTES: dict[str, str] = {}
"""Route modules that still read or write their service's repository themselves."""


def _is_route_module(tree: ast.Module) -> bool:
    """It uses FastAPI's `APIRouter` and defines routes on one: functions decorated as routes
    (`@routes.get(...)`) or added with `add_api_route`."""
    uses_router = any(
        isinstance(node, ast.ImportFrom) and any(a.name == "APIRouter" for a in node.names)
        for node in ast.walk(tree)
    )
    decorated = any(
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in ROUTE_DECORATORS
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for decorator in node.decorator_list
    )
    added = any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_api_route"
        for node in ast.walk(tree)
    )
    return uses_router and (decorated or added)


def _repository_imports(package: str, tree: ast.Module) -> list[str]:
    """Where `tree` imports `package`'s repository (`package.repository`, a module of it, or
    a sub-package's, as `router.connectors.repository`), at the top or inside a function."""

    def repository(dotted: str) -> bool:
        parts = dotted.split(".")
        return parts[0] == package and "repository" in parts

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}" for a in node.names if repository(a.name)]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and (
                repository(node.module)
                or any(repository(f"{node.module}.{a.name}") for a in node.names)
            )
        ):
            found.append(f"line {node.lineno}")
    return found


def test_routes_call_the_domain_not_the_repository() -> None:
    wrong = {
        name: found
        for name, tree in _modules()
        if name not in REPOSITORY_IN_ROUTES and _is_route_module(tree)
        for found in [_repository_imports(name.split("/")[0], tree)]
        if found
    }
    assert not wrong, (
        "a route module imports its service's repository; call the service's domain instead "
        f"(docs/architecture.md, House rules): {wrong}"
    )


ROUTES = """
from fastapi import APIRouter
routes = APIRouter()

@routes.get("/x")
async def x() -> None: ...
"""


@pytest.mark.parametrize(
    ("source", "route_module", "imports"),
    [
        (ROUTES + "from ingest import metrics, repository\n", True, 1),
        (ROUTES + "from ingest.repository import StoredSource\n", True, 1),
        (ROUTES + "import ingest.repository\n", True, 1),
        (ROUTES + "async def f():\n    from ingest.repository import get_lead\n", True, 1),
        (ROUTES + "from ingest.connectors import repository\n", True, 1),
        (ROUTES + "from ingest import records\nfrom router import repository\n", True, 0),
        ("from fastapi import APIRouter\nfrom ingest import repository\n", False, 1),
        ("@app.get('/x')\nasync def x() -> None: ...\n", False, 0),
        (
            "from fastapi import APIRouter\nfrom ingest import repository\n"
            "def add(router: APIRouter) -> None:\n    router.add_api_route('/x', f)\n",
            True,
            1,
        ),
    ],
)
def test_the_routes_check_sees_what_it_looks_for(
    source: str, route_module: bool, imports: int
) -> None:
    tree = ast.parse(source)
    assert (_is_route_module(tree), len(_repository_imports("ingest", tree))) == (
        route_module,
        imports,
    )


DOCUMENTS = {
    "ingest/repository.py:lead_profile_json": "a lead's profile as the stored JSON document, "
    "read for erasure's redaction (services/erasure.py)",
    "qualifier/repository/leads.py:profile_json": "the same, the qualifier's copy",
    "nurture/repository/leads.py:profile_json": "the same, nurture's copy",
    "router/repository/erasure.py:profile_json": "the same, the router's copy",
    "audit/repository/events.py:timeline": "archived CloudEvents envelopes, answered as stored",
    "audit/repository/events.py:archived_events": "archived envelopes for the export, "
    "written out as stored",
    "audit/repository/events.py:envelopes_of": "archived envelopes, rewritten as documents "
    "by erasure's redaction",
    "ingest/roundstore.py:idempotent_response": "the answer remembered for an Idempotency-Key, "
    "replayed as it was",
    "router/repository/leads.py:lead_row": "a lead record's columns to write (an INSERT's "
    "parameters, not a read)",
    "router/repository/leads.py:lead_values": "the same, from changed values",
}
"""Repository functions that return a JSON document as such, on purpose, or build a write's
parameters."""


def _returns_documents(tree: ast.Module) -> list[str]:
    """The module's public functions (what the domain calls) whose result is (or holds) a
    `dict[str, Any]`."""
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("_")
        and node.returns is not None
        and any(f"{kind}[str, Any]" in ast.unparse(node.returns) for kind in ("dict", "Mapping"))
    ]


def test_repositories_return_domain_records() -> None:
    wrong = [
        f"{name}:{function}"
        for name, tree in _modules()
        if Path(name).name in SQL_MODULES
        or Path(name).parent.name == "repository"
        or name in SQL_ALSO_IN
        for function in _returns_documents(tree)
        if f"{name}:{function}" not in DOCUMENTS
    ]
    assert not wrong, (
        "repository functions returning dicts; return a frozen dataclass from the package's "
        f"records module (docs/architecture.md, House rules): {wrong}"
    )


HTTP_IN_REPOSITORIES: dict[str, str] = {}
"""Repository modules that still build an HTTP body (a `schemas` model)."""


def test_repositories_do_not_return_http_bodies() -> None:
    wrong = {
        name: found
        for name, tree in _modules()
        if (Path(name).name in SQL_MODULES or Path(name).parent.name == "repository")
        and name not in HTTP_IN_REPOSITORIES
        for found in [
            [
                f"line {node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)
                and (node.module or "").split(".")[-1] == "schemas"
            ]
        ]
        if found
    }
    assert not wrong, (
        "a repository imports the HTTP bodies (schemas); return a record and let the route "
        f"make its body `of()` it (docs/architecture.md, House rules): {wrong}"
    )


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("async def f(conn) -> dict[str, dict[str, Any] | None]: ...\n", ["f"]),
        ("async def f(conn) -> list[Mapping[str, Any]]: ...\n", ["f"]),
        ("def f() -> dict[str, LeadRow | None]: ...\n", []),
        ("def f() -> ColumnElement[Any]: ...\n", []),
        ("def _row(x) -> dict[str, Any]: ...\n", []),
        ("class C:\n    def row(self) -> dict[str, Any]: ...\n", []),
    ],
)
def test_the_records_check_sees_what_it_looks_for(source: str, found: list[str]) -> None:
    assert _returns_documents(ast.parse(source)) == found
