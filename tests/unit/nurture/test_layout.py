"""nurture's layout (issue 17): small modules a newcomer can guess, and one place for the
consent rule and for suppressing an address."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

NURTURE = Path(__file__).resolve().parents[3] / "nurture"


def _modules() -> dict[str, str]:
    return {
        path.relative_to(NURTURE).as_posix(): path.read_text()
        for path in sorted(NURTURE.rglob("*.py"))
        if "migrations" not in path.parts
    }


def test_no_module_is_over_500_lines() -> None:
    long = {name: text.count("\n") for name, text in _modules().items() if text.count("\n") > 500}
    assert not long, f"split these along their seams: {long}"


def test_the_consent_basis_is_decided_in_consent_py_only() -> None:
    """The stored consent and the suppression are read, and the rule applied, by
    `Consent.check`; everything else asks it."""
    elsewhere = [
        name
        for name, text in _modules().items()
        if name != "consent.py"
        and not name.startswith("repository/")
        and re.search(r"\b(explicit_consent|decide)\(", text)
    ]
    assert not elsewhere


def test_an_address_is_suppressed_through_consent_py() -> None:
    """Suppressing also cancels the address's queued emails: one function does both
    (erasure lists the address itself, after deleting every email to it)."""
    elsewhere = [
        name
        for name, text in _modules().items()
        if name not in {"consent.py", "erasure.py"}
        and not name.startswith("repository/")
        and re.search(r"\b(consents|repository)\.suppress\(", text)
    ]
    assert not elsewhere


SERVICE_PACKAGES = ("ingest", "qualifier", "router", "audit")
SHARED_BY_CONVENTION = {"Consumers"}  # every service's event handlers (consumers.py)
NOT_DOMAIN = {"schemas.py", "definitions.py"}  # HTTP bodies and the tracks file's models


def _classes(package: str, skip: set[str] | None = None) -> set[str]:
    root = NURTURE.parent / package
    return {
        node.name
        for path in root.rglob("*.py")
        if "migrations" not in path.parts and path.name not in (skip or set())
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    }


def test_nurtures_domain_classes_are_named_apart_from_the_other_services() -> None:
    """A name says which service's thing it is (issue 17, item 5): nurture's lead and task
    records are not audit's, its engagement record is not the qualifier's."""
    ours = _classes("nurture", NOT_DOMAIN) - SHARED_BY_CONVENTION
    shared = {package: sorted(ours & _classes(package)) for package in SERVICE_PACKAGES}
    assert not any(shared.values()), shared
    assert not {name for name in ours if re.fullmatch(r"Engagement|\w+Row", name)}


HTTP_SIDE = {"api.py", "schemas.py"}


def test_the_domain_does_not_know_the_http_responses() -> None:
    """The repository returns domain records (records.py) and the services return domain
    records too; api.py makes the responses (issue 17, item 2)."""
    knowing = [
        name
        for name, text in _modules().items()
        if name not in HTTP_SIDE and re.search(r"^from nurture\.schemas import", text, re.M)
    ]
    assert not knowing


def test_statuses_are_literal_types() -> None:
    from nurture import records

    for record, field in [
        (records.Enrolment, "status"),
        (records.Email, "status"),
        (records.CallTask, "status"),
        (records.Suppression, "reason"),
        (records.EngagementSignal, "type"),
    ]:
        hint = typing.get_type_hints(record)[field]
        assert typing.get_origin(hint) is typing.Literal, (record.__name__, field, hint)


def test_routes_are_module_functions_that_call_the_services() -> None:
    """Routes are functions of api.py with their dependencies declared (issue 17, item 3):
    build_router only wires them, and no route reaches into the repository."""
    api = ast.parse((NURTURE / "api.py").read_text())
    [build] = [n for n in api.body if isinstance(n, ast.FunctionDef) and n.name == "build_router"]
    nested = [
        n.name
        for n in ast.walk(build)
        if isinstance(n, ast.AsyncFunctionDef) and n.decorator_list  # a route is decorated
    ]
    assert not nested, f"routes defined inside build_router: {nested}"
    imports = [alias.name for n in ast.walk(api) if isinstance(n, ast.Import) for alias in n.names]
    imports += [
        f"{n.module}.{alias.name}"
        for n in ast.walk(api)
        if isinstance(n, ast.ImportFrom)
        for alias in n.names
    ]
    assert not [name for name in imports if "repository" in name]
