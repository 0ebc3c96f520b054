"""The ids Leadfarm makes up are UUIDv7s (contracts/ids.py): time-ordered, so the rows a
batch inserts land together in every index keyed by them."""

from __future__ import annotations

import ast
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.envelope import Envelope
from contracts.events import LeadReceived, make_envelope
from contracts.ids import new_id

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
PRODUCTION = ("contracts", "services", "ingest", "qualifier", "router", "nurture", "audit")

RANDOM_UUIDS_ALLOWED = {
    "router/routes/reps.py": "a rep's short id is 12 hex digits of a random UUID (a UUIDv7's "
    "first 12 would be its millisecond: two reps made together would collide)",
}


def test_an_id_is_a_uuid7_of_its_moment() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(new_id())
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after  # the first 48 bits: Unix time in ms
    assert str(made) == made.urn.removeprefix("urn:uuid:")  # canonical text, lower case


def test_ids_made_one_after_another_sort_in_that_order_as_text() -> None:
    ids = [new_id() for _ in range(20_000)]  # many within one millisecond
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_events_get_uuid7_ids() -> None:
    received = LeadReceived(
        lead_id=new_id(), delivery_id=new_id(), source="form", provider="form", received_at=NOW
    )
    envelope = make_envelope(received, time=NOW, subject=received.lead_id)
    assert uuid.UUID(envelope.id).version == 7
    bare = Envelope(source="/leadfarm/x", type="t.v1", time=NOW, subject="x", data={})
    assert uuid.UUID(bare.id).version == 7


def _random_uuid_calls(source: str) -> Iterator[int]:
    """Lines that call `uuid.uuid4()`/`uuid1()` or a `uuid4`/`uuid1` imported by name."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ("uuid4", "uuid1"):
            yield node.lineno


def test_production_code_makes_ids_with_new_id() -> None:
    found = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative or relative in RANDOM_UUIDS_ALLOWED:
                continue
            found += [f"{relative}:{line}" for line in _random_uuid_calls(path.read_text())]
    assert found == [], "make ids with contracts.ids.new_id (a UUIDv7): " + ", ".join(found)


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        ("import uuid\nx = str(uuid.uuid4())\n", [2]),
        ("from uuid import uuid4\n\nx = uuid4().hex\n", [3]),
        ("import uuid\nx = uuid.uuid1()\n", [2]),
        ("from contracts.ids import new_id\nx = new_id()\n", []),
    ],
)
def test_the_scan_sees_random_uuids(source: str, lines: list[int]) -> None:
    assert list(_random_uuid_calls(source)) == lines
