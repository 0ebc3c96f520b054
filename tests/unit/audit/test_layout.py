"""audit's layout (issue 17): names that do not collide with other services' and modules a
newcomer can hold in their head."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

AUDIT = Path(__file__).resolve().parents[3] / "audit"


def _sources() -> Iterator[tuple[str, str]]:
    for path in sorted(AUDIT.rglob("*.py")):
        relative = path.relative_to(AUDIT.parent).as_posix()
        if "/migrations/" not in relative:
            yield relative, path.read_text()


def test_audit_metrics_is_prometheus_as_in_every_other_service() -> None:
    """Audit's business reports are `audit.reports`; a module called `metrics` is the
    Prometheus one in every other service, so in audit it may only be that."""
    assert (AUDIT / "reports").is_dir()
    metrics = AUDIT / "metrics.py"
    assert not metrics.exists() or "prometheus_client" in metrics.read_text()


def test_prospect_satisfaction_audits_are_not_called_tasks() -> None:
    """Nurture's tasks are call tasks; audit calls its audits what they are. Only the table
    keeps its first name (`audit_tasks`), said where the code and the table differ."""
    named_task = re.compile(r"(^|_)tasks?($|_)|Task", re.IGNORECASE)
    wrong = []
    for name, source in _sources():
        for node in ast.walk(ast.parse(source, name)):
            names: list[str] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Name):
                names = [node.id]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            elif isinstance(node, ast.arg):
                names = [node.arg]
            elif isinstance(node, ast.alias):
                names = [node.asname or node.name]
            elif isinstance(node, ast.keyword) and node.arg:
                names = [node.arg]
            line = getattr(node, "lineno", 0)
            wrong += [f"{name}:{line}: {n}" for n in names if named_task.search(n)]
    assert not wrong, wrong


def test_no_module_is_over_500_lines() -> None:
    """Audit is split by noun (archive, forecast, Prospect Satisfaction audits, reports,
    erasure), each small enough to hold in one's head; migrations aside."""
    long = {name: n for name, source in _sources() if (n := source.count("\n")) > 500}
    assert not long, long


def _imports(source: str, name: str) -> list[tuple[str, str]]:
    """(module, name) of every `from module import name` in the source."""
    return [
        (node.module or "", alias.name)
        for node in ast.walk(ast.parse(source, name))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]


def test_routes_call_services_and_services_return_domain_records() -> None:
    """The API goes through audit's domain modules, never the repository; the repository
    and the domain modules return domain records, never HTTP response models (`*Out`),
    which audit/schemas.py makes `of` those records."""
    sources = dict(_sources())
    api = _imports(sources["audit/api.py"], "audit/api.py")
    assert not [i for i in api if i[0].startswith("audit.repository") or i[1] == "repository"]
    wrong = {
        name: found
        for name, source in sources.items()
        if name not in {"audit/api.py", "audit/schemas.py"}
        for found in [
            [
                n
                for module, n in _imports(source, name)
                if module == "audit.schemas" and n.endswith("Out")
            ]
        ]
        if found
    }
    assert not wrong, wrong


def test_routes_are_module_functions() -> None:
    """Every route is a module-level function taking what it uses as `Annotated`
    dependencies (audit/deps.py), not a closure inside `build_router`."""
    tree = ast.parse((AUDIT / "api.py").read_text())
    nested = [
        node.name
        for outer in ast.walk(tree)
        if isinstance(outer, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(outer)
        if node is not outer
        and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.decorator_list
    ]
    assert not nested, nested
    routes = [
        node.name
        for node in tree.body
        if isinstance(node, ast.AsyncFunctionDef)
        and any(
            isinstance(d, ast.Call) and ast.unparse(d.func).startswith("routes.")
            for d in node.decorator_list
        )
    ]
    assert len(routes) >= 20, routes
