"""Erasure is the chassis's (issue 17, item 4): the tombstones are one chassis table, and the
four services that erase on `person.erasure_requested` (ingest, the qualifier, the router,
nurture) run the chassis's erase flow, supplying only their own tables. Checked on the
source, so a fifth copy of the table or of the flow fails here."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData

from contracts.topics import SERVICES
from services import tables

ROOT = Path(__file__).resolve().parents[3]
ERASING = ("ingest", "qualifier", "router", "nurture")
CHASSIS_STEPS = {"outbox_values", "redact_outbox", "redact_timers", "tombstoned_among"}
"""What `erase_person` and `skip_erased` do for a service, which it does not do itself."""


def _calls(package: str) -> Iterator[tuple[str, ast.Call]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if "/migrations/" in relative:
            continue
        for node in ast.walk(ast.parse(path.read_text(), relative)):
            if isinstance(node, ast.Call):
                yield relative, node


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def test_the_tombstones_are_one_chassis_table_keyed_by_service_and_lead() -> None:
    assert [c.name for c in tables.tombstones.primary_key.columns] == ["service", "lead_id"]


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_defines_a_tombstone_table_of_its_own(service: str) -> None:
    metadata: MetaData = importlib.import_module(f"{service}.models").metadata
    own = [
        table.name
        for table in metadata.tables.values()
        if table.name.endswith("_erased")
        or {"lead_id", "erasure_id", "erased_at"} <= set(table.c.keys())
    ]
    assert own == [], "tombstones live in the chassis's `tombstones` (services/tables.py)"


@pytest.mark.parametrize("service", ERASING)
def test_a_service_erases_through_the_chassis_flow(service: str) -> None:
    calls = list(_calls(service))
    flows = [where for where, call in calls if _name(call) == "erase_person"]
    assert len(flows) == 1, f"{service} answers an erasure request with erase_person: {flows}"
    again = sorted({f"{where}: {_name(c)}" for where, c in calls if _name(c) in CHASSIS_STEPS})
    assert again == [], "erase_person and skip_erased do these for the service"


# ingest hears only erasure requests, so it has no late events to skip.
@pytest.mark.parametrize("service", ["qualifier", "router", "nurture"])
def test_a_service_skips_late_events_by_the_chassis_tombstones(service: str) -> None:
    guards = [c for _, c in _calls(service) if _name(c) in {"skip_erased", "skip_erased_batch"}]
    assert sorted(_name(c) for c in guards) == ["skip_erased", "skip_erased_batch"]
    # Only the handlers: the lookup is the chassis's default (`tombstoned`, `tombstoned_among`).
    assert [ast.unparse(c) for c in guards if len(c.args) + len(c.keywords) != 1] == []
