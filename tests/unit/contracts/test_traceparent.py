"""W3C trace context values made for events and requests (contracts/envelope.py)."""

from __future__ import annotations

import os
import random
import re

import pytest

from contracts import envelope
from contracts.envelope import child_traceparent, new_traceparent

TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")


def test_a_new_traceparent_has_a_fresh_trace_and_span_id() -> None:
    values = [new_traceparent() for _ in range(100)]
    matches = [TRACEPARENT.fullmatch(v) for v in values]
    assert all(matches), values
    assert len({m.group(1) for m in matches if m}) == 100
    assert len({m.group(2) for m in matches if m}) == 100


def test_a_child_keeps_the_trace_and_flags_and_gets_a_span_of_its_own() -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    child = child_traceparent(parent)
    assert child.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert child.endswith("-00")
    assert child.split("-")[2] not in ("00f067aa0ba902b7", "0" * 16)


def test_a_malformed_or_missing_parent_starts_a_new_trace() -> None:
    for parent in (None, "", "00-short-00f067aa0ba902b7-01", "garbage"):
        assert TRACEPARENT.fullmatch(child_traceparent(parent))


def test_an_id_is_never_all_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    """W3C Trace Context makes an all-zero trace or span id invalid."""
    monkeypatch.setattr(envelope._IDS, "getrandbits", lambda bits: 0)
    assert new_traceparent() == f"00-{'0' * 31}1-{'0' * 15}1-01"


def test_a_forked_process_draws_other_ids_than_its_parent() -> None:
    """`random` reseeds in a forked child, so replicas forked from one parent (uvicorn
    workers) do not repeat each other's ids."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, new_traceparent().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    theirs = os.read(read, 100).decode()
    os.close(read)
    assert TRACEPARENT.fullmatch(theirs)
    assert theirs != new_traceparent()


def test_ids_leave_the_shared_random_generator_alone() -> None:
    """A program (or Hypothesis, which checks it) may seed or watch `random`'s shared
    generator: making ids must not move it."""
    state = random.getstate()
    new_traceparent()
    child_traceparent(new_traceparent())
    assert random.getstate() == state
