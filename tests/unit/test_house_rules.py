"""Three of docs/architecture.md's house rules, checked on the source (issue 17, item 6):

- all SQL of a service is in its repository modules: nothing else in a service package
  builds a statement or executes one;
- a transaction belongs to the request or the message: only entry points (routes, consumers,
  composition roots, background workers) open one; domain and repository code never do;
- what a service's domain refuses is a `DomainError` (services/errors.py), answered by the
  chassis's one handler: no service turns an exception of its own into a `Problem` by hand.

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
