"""Starting Leadfarm as real processes, the way an operator does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

LEADFARM = str(Path(sys.executable).parent / "leadfarm")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            [LEADFARM, *args],
            # Only the settings the test gives: none leak in from the caller's environment.
            env={**{k: v for k, v in os.environ.items() if not k.startswith("LEADFARM_")}, **env},
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, base_url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"exited with {self.proc.returncode}:\n{self.output()[-3000:]}"
                )
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready after {timeout}s:\n{self.output()[-3000:]}")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, and the exit code once it stopped (fails if it hangs).

        uvicorn shuts down gracefully and then re-raises SIGTERM so that a supervisor sees
        the signal; `stopped_cleanly` checks the shutdown itself finished.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"did not stop within {timeout}s of SIGTERM") from None
        self._out.close()
        return self.proc.returncode


def stopped_cleanly(process: Process) -> bool:
    code = process.terminate()
    return code in (0, -signal.SIGTERM) and "runtime stopped" in process.output()


def wait_for(probe: object, timeout: float = 30.0, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()  # type: ignore[operator]
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not met within {timeout}s; last: {last!r}")
