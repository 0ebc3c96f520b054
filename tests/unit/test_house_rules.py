"""Two of docs/architecture.md's house rules, checked on the source (issue 17, item 6):

- all SQL of a service is in its repository modules: nothing else in a service package
  builds a statement or executes one;
- a transaction belongs to the request or the message: only entry points (routes, consumers,
  composition roots, background workers) open one; domain and repository code never do.

Each exception is listed with the reason it is one. A new module that needs to be one is
added here, in review, not silently."""

from __future__ import annotations

import ast
from collections.abc import Iterator
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
