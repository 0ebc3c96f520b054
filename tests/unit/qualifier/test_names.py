"""The qualifier's classes are named for what they hold, apart from the other services'
(issue 17): nurture has an `Engagement` of its own and the router a `Decision`."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).parents[3]
OTHERS = ("ingest", "router", "nurture", "audit")
SHARED_ON_PURPOSE = {
    "Consumers": "every service's event handlers have this name (consumers.py)",
    "DefinitionsError": "nurture's tracks file and the qualifier's definitions file refuse alike",
    "Side": "each service's backtest compares the active side with the candidate side",
}


def classes(package: str) -> set[str]:
    return {
        node.name
        for path in (REPO / package).rglob("*.py")
        if "migrations" not in path.parts
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    }


def test_no_qualifier_class_shares_a_name_with_another_service_s() -> None:
    ours = classes("qualifier")
    assert not {"Engagement", "Decision"} & ours
    shared = {name: other for other in OTHERS for name in ours & classes(other)}
    assert set(shared) <= set(SHARED_ON_PURPOSE), shared
