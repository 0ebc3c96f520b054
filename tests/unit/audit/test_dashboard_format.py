"""How the dashboard writes durations, ticks, money and times (audit/static/format.js), run
in Node: a unit is chosen by the values' range, so six seconds never read "0.1 min" and
axis ticks never repeat. Without Node (Debian's `nodejs`) the test skips, or fails under
CI=true."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import audit
from tests import infra

FORMAT_JS = Path(audit.__file__).parent / "static" / "format.js"


@pytest.fixture(scope="module")
def node() -> str:
    binary = shutil.which("node") or shutil.which("nodejs")
    if binary is None:
        infra.unavailable("Node.js (the Debian package `nodejs`)")
    assert binary is not None
    return binary


def run(node: str, expression: str) -> Any:
    """`expression` evaluated with `F` = format.js's exports, as JSON."""
    script = (
        f"const F = require({json.dumps(str(FORMAT_JS))});"
        f"process.stdout.write(JSON.stringify({expression}));"
    )
    done = subprocess.run(
        [node, "-e", script], capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(done.stdout)


def test_a_duration_is_written_in_the_unit_its_size_needs(node: str) -> None:
    seconds = [0.4, 6, 95, 150, 600, 5400, 7200, 9000, 200_000]
    assert run(node, f"{seconds}.map(F.duration)") == [
        "0.4 s",
        "6 s",
        "95 s",
        "2.5 min",
        "10 min",
        "90 min",
        "2 h",
        "2.5 h",
        "2.3 d",
    ]
    assert run(node, "[null, undefined].map(F.duration)") == ["", ""]


def test_an_axis_takes_the_unit_of_its_largest_value(node: str) -> None:
    largest = [0, 40, 119, 120, 7199, 7200, 172_799, 172_800]
    assert run(node, f"{largest}.map(v => F.durationUnit(v).name)") == [
        "seconds",
        "seconds",
        "seconds",
        "minutes",
        "minutes",
        "hours",
        "hours",
        "days",
    ]


def test_ticks_carry_the_decimals_their_step_needs_and_never_repeat(node: str) -> None:
    assert run(node, "[0, 0.02, 0.04, 0.06].map(v => F.tick(v, 0.02, 'min'))") == [
        "0.00 min",
        "0.02 min",
        "0.04 min",
        "0.06 min",
    ]
    assert run(node, "[0, 5, 10, 15].map(v => F.tick(v, 5, 's'))") == ["0 s", "5 s", "10 s", "15 s"]
    assert run(node, "[0, 0.1 + 0.2, 0.6].map(v => F.tick(v, 0.3))") == ["0.0", "0.3", "0.6"]
    assert run(node, "[0, 2000, 4000].map(v => F.tick(v, 2000, 'h'))") == [
        "0 h",
        "2,000 h",
        "4,000 h",
    ]


def test_money_shows_its_currency(node: str) -> None:
    assert run(node, "[F.money(23456, 'USD'), F.money('900.00', 'EUR'), F.money(null, 'USD')]") == [
        "$23,456",
        "€900",
        "",
    ]
    assert run(node, "[F.money(12500, 'USD', true), F.money(80000, 'GBP', true)]") == [
        "$12.5K",
        "£80K",
    ]


def test_a_time_is_shown_in_a_zone_and_labelled_with_it(node: str) -> None:
    moment = "2026-03-02T09:04:05Z"
    assert run(
        node,
        f"['Europe/Berlin', 'America/New_York', 'UTC'].map(z => F.localTime('{moment}', z))",
    ) == [
        "2026-03-02 10:04:05 GMT+1",
        "2026-03-02 04:04:05 EST",
        "2026-03-02 09:04:05 UTC",
    ]


def test_a_long_label_is_broken_into_lines_at_spaces(node: str) -> None:
    assert run(node, "F.lines('Accepted by a rep', 12)") == ["Accepted by", "a rep"]
    assert run(node, "F.lines('Won', 12)") == ["Won"]
