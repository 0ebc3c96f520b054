"""The README's "Trying it" runs as written: its shell commands, taken from the README, are
pasted into bash against a running `leadfarm up` (on a free port), so the README cannot
drift from what Leadfarm does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.processes import LEADFARM, Process, free_port, stopped_cleanly, wait_for
from tests.e2e.test_embedded_process import KEY

pytestmark = pytest.mark.e2e

README = Path(__file__).parents[2] / "README.md"
PLACEHOLDER_KEY = "lf_..."


def trying_it() -> str:
    """The shell blocks of the README's "Trying it" section, as one script."""
    text = README.read_text()
    section = text.split("\n## Trying it\n", 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "no ```sh blocks under ## Trying it"
    return "\n".join(blocks)


def test_the_readme_commands_run_as_written(tmp_path: Path) -> None:
    script = trying_it()
    assert PLACEHOLDER_KEY in script
    assert "localhost:8000" in script
    port = free_port()
    server = Process(
        ["up", "--data-dir", str(tmp_path / "data"), "--port", str(port)], {}, tmp_path / "up.log"
    )
    try:
        server.wait_ready(f"http://127.0.0.1:{port}")
        found = wait_for(lambda: KEY.search(server.output()))
        assert isinstance(found, re.Match)
        key = found.group(1)
        # What differs from a reader's machine, and only that: the port and the key printed.
        pasted = script.replace("localhost:8000", f"localhost:{port}").replace(PLACEHOLDER_KEY, key)
        # The commands run where `make up` installed Leadfarm: `.venv/bin/leadfarm`.
        (tmp_path / ".venv" / "bin").mkdir(parents=True)
        (tmp_path / ".venv" / "bin" / "leadfarm").symlink_to(LEADFARM)
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", pasted],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LEADFARM_HTTP_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        assert stopped_cleanly(server), server.output()[-2000:]
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert result.stderr == ""
    assert '"id":"ana"' in out  # the rep
    assert re.search(r"^[0-9a-f-]{36}$", out, flags=re.MULTILINE)  # echo "$lead_id"
    # `leadfarm leads timeline`: a line per event, in words.
    assert re.search(r"received from source api \(api\)\s+ingest", out)
    assert re.search(r"qualified as sales_qualified .*qualifier", out)
    assigned = r"assigned to Ana Ruiz \(ana\) from pool \S+ by rule \S+; first touch due "
    assert re.search(assigned + r"\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+router", out)
    assert '"what":"assigned to Ana Ruiz (ana)' in out  # the summary over HTTP
    assert '"type":"leadfarm.lead.assigned.v1"' in out  # the full CloudEvents
