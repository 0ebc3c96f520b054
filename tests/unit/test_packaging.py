"""Installing to run is not installing to develop: `make up` installs the run-time
dependencies only; the tests, linters and the benchmark's driver are extras; the README's
Quick start is two commands and CI runs the second."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from services import cli

REPO = Path(__file__).parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
DEV_TOOLS = {"pytest", "mypy", "ruff", "schemathesis", "hypothesis", "aiosmtpd", "pyinstrument"}


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_run_time_dependencies_hold_no_development_tool_and_no_benchmark_driver() -> None:
    run_time = names(PROJECT["dependencies"])
    assert not run_time & DEV_TOOLS
    assert "psutil" not in run_time  # the benchmark's
    assert "tzdata" in run_time  # reps' time zones where the system has no zoneinfo
    extras = PROJECT["optional-dependencies"]
    assert names(extras["bench"]) == {"psutil"}
    assert "leadfarm[bench]" in extras["dev"]
    assert names(extras["dev"]) >= DEV_TOOLS


def test_the_license_is_an_spdx_expression() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]
    assert "setuptools>=77" in build["requires"]  # the first to read an SPDX string


def make_dry_run(target: str, venv: Path) -> str:
    """The commands `make <target>` would run on a fresh clone (nothing is run)."""
    result = subprocess.run(
        ["make", "-n", target, f"VENV={venv}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def test_make_up_installs_the_run_time_dependencies_only(tmp_path: Path) -> None:
    up = make_dry_run("up", tmp_path / "venv")
    installs = [line for line in up.splitlines() if "pip install" in line and "-e" in line]
    assert installs, up
    assert all("[dev]" not in line and "[bench]" not in line for line in installs), up
    assert "leadfarm up" in up
    test = make_dry_run("test", tmp_path / "venv")
    assert "-e '.[dev]'" in test


def quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    run, test = quick_start_commands()
    assert run == "make up"
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert test in [line.strip() for line in ci if not line.lstrip().startswith("#")]


def test_bench_without_its_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m.startswith(("psutil", "bench."))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psutil", None)  # as if not installed
    assert cli.main(["bench", "--smoke"]) == 2
    err = capsys.readouterr().err
    assert "needs psutil" in err
    assert "'.[bench]'" in err
