"""The test tree mirrors the source tree (issue 17, item 6), so a module's unit tests are where
its path says: `ingest/providers/meta.py` in tests/unit/ingest/providers/, the chassis's
`services/bus/kafka.py` in tests/unit/services/bus/.

- every folder under tests/unit is a source package at the same path (tests/unit/router/
  connectors for router/connectors), or is in CROSS_CUTTING with the reason it is one;
- no test module sits loose at the top of tests/unit unless TOP_LEVEL says why;
- the helpers tests share have one place per role: a service put in a known state (a clock
  the test moves, verbs to post leads and read what happened) in tests/scenarios/, one module
  per source package and named after it; stand-ins for outside systems in tests/fakes/.
  Under tests/unit there are only tests, conftest.py fixtures and package markers, and no
  test imports from a conftest (a fixture module, not a library);
- every test folder is a package (an `__init__.py`), so two tests/unit/*/test_api.py are
  two modules, not a clash.

A new exception is added here, in review, with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
UNIT = TESTS / "unit"

CROSS_CUTTING = {
    "security": "threats that span services, one per module (SSRF on every URL Leadfarm "
    "calls, the HTTP edge, metric labels, secrets at rest); its __init__.py says which",
}

TOP_LEVEL = {
    "test_house_rules.py": "the house rules, checked over every service package at once",
    "test_test_layout.py": "this check: the test tree's own layout",
    "test_ci_gate.py": "the test suite's own rule (tests/infra.py): under CI=true a missing "
    "broker or database fails instead of skipping",
    "test_packaging.py": "the project as installed: pyproject.toml's dependencies and extras, "
    "the Makefile and the README's two commands",
}

UNIT_FILES = {"__init__.py", "conftest.py"}
"""What may sit in a tests/unit folder besides `test_*.py` modules."""


def _folders(top: Path) -> list[Path]:
    return sorted(
        p
        for p in top.rglob("*")
        if p.is_dir() and not any(_is_cache(part) for part in p.relative_to(top).parts)
    )


def _is_cache(name: str) -> bool:
    return name == "__pycache__" or name.startswith(".")


def _is_source_package(path: Path) -> bool:
    return (path / "__init__.py").is_file()


def test_every_unit_test_folder_is_a_source_package_or_says_why_not() -> None:
    strays = sorted(
        relative.as_posix()
        for relative in (folder.relative_to(UNIT) for folder in _folders(UNIT))
        if relative.parts[0] not in CROSS_CUTTING and not _is_source_package(ROOT / relative)
    )
    assert not strays, (
        f"{strays}: each mirrors no source package (no <folder>/__init__.py at the root). "
        "Put its tests under the folder of the package they test, or add it to "
        "CROSS_CUTTING with the reason."
    )


def test_no_test_module_sits_loose_at_the_top_of_the_unit_tests() -> None:
    loose = sorted(p.name for p in UNIT.glob("test_*.py") if p.name not in TOP_LEVEL)
    assert not loose, (
        f"{loose}: put each under tests/unit/<package>/ of the package it tests (the chassis's "
        "under tests/unit/services/), or add it to TOP_LEVEL with the reason"
    )


def test_unit_test_folders_hold_only_tests_and_fixtures() -> None:
    helpers = sorted(
        p.relative_to(TESTS).as_posix()
        for p in UNIT.rglob("*.py")
        if not any(_is_cache(part) for part in p.parts) and not p.name.startswith("test_")
        if p.name not in UNIT_FILES
    )
    assert not helpers, (
        f"{helpers}: a helper that puts a service in a known state goes in "
        "tests/scenarios/<package>.py, a stand-in for an outside system in tests/fakes/"
    )


def test_no_test_imports_from_a_conftest() -> None:
    importers = sorted(
        path.relative_to(TESTS).as_posix()
        for folder in (UNIT, TESTS / "integration", TESTS / "scenarios")
        for path in folder.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("conftest")
    )
    assert not importers, (
        f"{importers} import from a conftest: move what they need to tests/scenarios/"
    )


def test_each_scenario_module_is_named_after_the_source_package_it_sets_up() -> None:
    scenarios = TESTS / "scenarios"
    assert scenarios.is_dir(), "the shared scenario helpers live in tests/scenarios/"
    strays = sorted(
        p.name
        for p in scenarios.glob("*.py")
        if p.name != "__init__.py" and not _is_source_package(ROOT / p.stem)
    )
    assert not strays, f"{strays}: tests/scenarios/<package>.py is named after a source package"


def test_every_test_folder_is_a_package() -> None:
    folders = [TESTS, *(p for p in _folders(TESTS) if any(p.glob("*.py")))]
    bare = sorted(
        p.relative_to(ROOT).as_posix() for p in folders if not (p / "__init__.py").is_file()
    )
    assert not bare, f"{bare}: a test folder without __init__.py"
