"""The benchmark's systems: a start that fails leaves nothing running."""

from __future__ import annotations

import sys

import pytest

from bench.systems import Proc, System

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


class TwoStartThenOneFails(System):
    def _start(self) -> None:
        for name in ("first", "second"):
            self.procs[name] = Proc(name, SLEEPER, {}, self.workdir / f"{name}.log")
        raise RuntimeError("third exited with 3")


def test_a_failed_start_stops_the_processes_it_started() -> None:
    system = TwoStartThenOneFails("test")
    with pytest.raises(RuntimeError, match="third exited"):
        system.start()
    assert [p.popen.poll() is not None for p in system.procs.values()] == [True, True]
