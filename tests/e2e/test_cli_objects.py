"""The everyday objects from the CLI, against a running `leadfarm up`: leads (and a lead's
timeline in short), reps (and reinstating one), rules, pools and the forecast's removal
requests, as tables and as JSON; bad input and refusals get a message and a non-zero exit,
never a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from services import cli
from tests.e2e.processes import LEADFARM, Process, free_port, stopped_cleanly, wait_for

pytestmark = pytest.mark.e2e

ADMIN_KEY = "cli-objects-admin-key-0123456789abcdef"
EXISTS = {"field": "utm.utm_source", "op": "exists"}


@dataclass
class World:
    url: str
    data_dir: Path
    lead_id: str
    request_id: str
    executive_key: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("cli-objects")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp / "data"
    env = {"LEADFARM_ADMIN_KEY": ADMIN_KEY}
    process = Process(["up", "--data-dir", str(data_dir), "--port", str(port)], env, tmp / "up.log")
    http = httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    try:
        process.wait_ready(url)
        for rep in (
            {"id": "ana", "name": "Ana Ruiz", "email": "ana@example.com"},
            {"id": "bo", "name": "Bo Lind", "email": "bo@example.com"},
        ):
            assert http.post("/router/v1/reps", json=rep).status_code == 201
        assert http.put("/router/v1/pools/dach", json={"members": ["ana"]}).status_code == 201
        rule = {"pool": "dach", "position": 10, "conditions": {"countries": ["DE"]}}
        assert http.put("/router/v1/rules/germany", json=rule).status_code == 201
        lead = {
            "email": "dana.secret@acme.example",
            "company": "Acme",
            "country": "DE",
            "timeframe_days": 30,
            "asked_to_be_contacted": True,
        }
        lead_id = http.post("/ingest/v1/leads", json=lead).json()["lead_id"]

        def on_forecast() -> bool:
            entries = http.get("/audit/v1/forecast/leads").json()
            return any(e["lead_id"] == lead_id for e in entries)

        wait_for(on_forecast, timeout=10)
        executive = http.post("/admin/v1/keys", json={"name": "vp sales", "scope": "manager"})
        granted = http.post(
            "/audit/v1/roles/sales-executive", json={"key_id": executive.json()["id"]}
        )
        assert granted.status_code == 201, granted.text
        asked = http.post(
            f"/audit/v1/forecast/leads/{lead_id}/removal-requests",
            json={"reason": "signed with a competitor"},
        )
        assert asked.status_code == 201, asked.text
        yield World(url, data_dir, lead_id, asked.json()["id"], executive.json()["key"])
    finally:
        http.close()
        assert stopped_cleanly(process), process.output()[-2000:]


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    for name in [n for n in os.environ if n.startswith("LEADFARM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LEADFARM_URL", world.url)
    monkeypatch.setenv("LEADFARM_KEY", ADMIN_KEY)
    # main() sets up logging for a process; here the test's own logging stays.
    monkeypatch.setattr(cli, "configure_logging", lambda *_: None)


@dataclass
class Run:
    status: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.out.splitlines()]


def leadfarm(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    status = cli.main(list(args))
    captured = capsys.readouterr()
    return Run(status, captured.out, captured.err)


def test_leads_list_show_and_timeline(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    listed = leadfarm(capsys, "leads", "list")
    assert listed.status == 0, listed.err
    header, *rows = listed.out.splitlines()
    assert header.split()[:3] == ["lead", "id", "captured"]
    assert any(row.startswith(world.lead_id) and "sales_qualified" in row for row in rows)
    as_json = leadfarm(capsys, "leads", "list", "--stage", "sales_qualified", "--json")
    assert world.lead_id in [row["lead_id"] for row in as_json.json_lines()]
    assert leadfarm(capsys, "leads", "list", "--rep", "bo").out.strip() == "no leads"

    shown = leadfarm(capsys, "leads", "show", world.lead_id)
    assert shown.status == 0, shown.err
    fields = dict(line.split(None, 1) for line in shown.out.splitlines())
    assert (fields["stage"], fields["rep_id"]) == ("sales_qualified", "ana")

    story = leadfarm(capsys, "leads", "timeline", world.lead_id)
    assert story.status == 0, story.err
    assert "received from source api" in story.out
    assert "assigned to Ana Ruiz (ana) from pool dach by rule germany" in story.out
    assert "removal from the forecast asked: signed with a competitor" in story.out
    assert "dana.secret" not in story.out
    assert "Acme" not in story.out
    events = orjson.loads(leadfarm(capsys, "leads", "timeline", world.lead_id, "--json").out)
    assert events["events"][0]["event"] == "lead.received"
    assert {"time", "event", "what", "who"} == set(events["events"][0])


def test_reps_list_show_suspend_and_reinstate(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = leadfarm(capsys, "reps", "list")
    assert listed.status == 0, listed.err
    assert [line.split()[0] for line in listed.out.splitlines()[1:]] == ["ana", "bo"]
    assert "Ana Ruiz" in leadfarm(capsys, "reps", "show", "ana").out

    refused = leadfarm(capsys, "reps", "reinstate", "ana")
    assert refused.status == 1
    assert "Rep 'ana' is not suspended. (HTTP 409)" in refused.err

    with sqlite3.connect(world.data_dir / "leadfarm.db") as db:  # as the compliance check does
        db.execute(
            "UPDATE router_reps SET suspended_at = '2026-01-01 00:00:00', "
            "suspended_reason = 'missed first touches' WHERE id = 'bo'"
        )
    assert orjson.loads(leadfarm(capsys, "reps", "show", "bo", "--json").out)["suspended"]
    back = leadfarm(capsys, "reps", "reinstate", "bo", "--reason", "coached")
    assert back.status == 0, back.err
    assert back.out.strip() == "rep bo (Bo Lind) is back in the distribution"
    assert not orjson.loads(leadfarm(capsys, "reps", "show", "bo", "--json").out)["suspended"]
    # A manager's suspension, with a reason.
    off = leadfarm(capsys, "reps", "suspend", "bo", "--reason", "on leave this week")
    assert off.status == 0, off.err
    assert off.out.strip() == "rep bo (Bo Lind) is suspended: on leave this week"
    shown = orjson.loads(leadfarm(capsys, "reps", "show", "bo", "--json").out)
    assert (shown["suspended"], shown["suspended_by"]["key_id"]) == (True, "env-admin")


def test_rules_and_pools(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    rules = leadfarm(capsys, "rules", "list")
    assert rules.status == 0, rules.err
    assert rules.out.splitlines()[1].split()[:4] == ["germany", "10", "yes", "dach"]
    rule = orjson.loads(leadfarm(capsys, "rules", "show", "germany", "--json").out)
    assert rule["conditions"]["countries"] == ["DE"]
    pools = leadfarm(capsys, "pools", "list", "--json").json_lines()
    assert {"dach"} <= {p["id"] for p in pools}
    shown = leadfarm(capsys, "pools", "show", "dach")
    assert shown.status == 0, shown.err
    assert "members" in shown.out
    assert "ana" in shown.out


def test_rule_history_and_rollback(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    before = leadfarm(capsys, "rules", "history", "--rule", "germany", "--json").json_lines()
    [created] = [c for c in before if c["action"] == "created"]
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    later = {"pool": "dach", "position": 20, "conditions": {"all": [EXISTS]}}
    made = httpx.put(f"{world.url}/router/v1/rules/later", json=later, headers=headers)
    assert made.status_code == 201, made.text

    history = leadfarm(capsys, "rules", "history")
    assert history.status == 0, history.err
    header, newest, *_ = history.out.splitlines()
    assert header.split()[:3] == ["version", "rule", "id"]
    assert newest.split()[1:3] == ["later", "created"]
    assert newest.endswith("LEADFARM_ADMIN_KEY (env-admin)")

    rolled = leadfarm(capsys, "rules", "rollback", str(created["version"]))
    assert rolled.status == 0, rolled.err
    version = created["version"]
    assert rolled.out.splitlines()[0] == f"restored the rules as of version {version}:"
    assert rolled.out.splitlines()[2].split()[1:] == ["later", "deleted"]
    again = leadfarm(capsys, "rules", "rollback", str(created["version"]))
    assert "nothing changed" in again.out
    assert [r["id"] for r in leadfarm(capsys, "rules", "list", "--json").json_lines()] == [
        "germany"
    ]
    pools = leadfarm(capsys, "pools", "history", "--pool", "dach", "--json").json_lines()
    assert [p["action"] for p in pools] == ["created"]
    missing = leadfarm(capsys, "pools", "rollback", "100000")
    assert missing.status == 1
    assert "There is no version 100000" in missing.err


def test_forecast_removal_is_approved_by_a_sales_executive_only(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = leadfarm(capsys, "forecast", "removals", "--status", "pending", "--json")
    assert [r["id"] for r in pending.json_lines()] == [world.request_id]
    approve = ("forecast", "approve", world.request_id, "--reason", "confirmed in review")
    as_admin = leadfarm(capsys, *approve)
    assert as_admin.status == 1
    assert "Only a sales executive approves" in as_admin.err

    monkeypatch.setenv("LEADFARM_KEY", world.executive_key)
    approved = leadfarm(capsys, *approve)
    assert approved.status == 0, approved.err
    assert approved.out.strip() == (
        f"removal request {world.request_id} approved (lead {world.lead_id})"
    )
    again = leadfarm(capsys, *approve)
    assert again.status == 1
    assert "approved already" in again.err


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (("leads", "show", "not-a-uuid"), 2, "'not-a-uuid' is not a lead id (a UUID)"),
        (("leads", "timeline", "42"), 2, "'42' is not a lead id (a UUID)"),
        (("leads", "show", "00000000-0000-4000-8000-000000000000"), 1, "Audit has not seen lead"),
        (("leads", "list", "--limit", "0"), 2, "--limit 0: give 1 to 1000"),
        (("reps", "show", "nobody"), 1, "There is no rep 'nobody'"),
        (("reps", "show", "../admin"), 2, "'../admin' is not a rep id"),
        (("reps", "reinstate", "nobody"), 1, "There is no rep 'nobody'"),
        (("rules", "show", "nosuch"), 1, "There is no rule 'nosuch'"),
        (("pools", "show", "nosuch"), 1, "There is no pool 'nosuch'"),
        (("forecast", "approve", "x", "--reason", "because"), 2, "not a removal request id"),
        (
            ("forecast", "deny", str(uuid.uuid4()), "--reason", "no"),
            2,
            "--reason: say why, in 3 characters or more",
        ),
        (("reps", "list", "--url", "ftp://x"), 2, "is not an http:// or https:// URL"),
    ],
)
def test_bad_input_gets_a_message_and_a_non_zero_exit(
    world: World,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    status: int,
    message: str,
) -> None:
    result = leadfarm(capsys, *args)
    assert result.status == status, result.out + result.err
    assert result.err.startswith("leadfarm: ")
    assert message in result.err
    assert not result.out


def test_no_key_a_wrong_key_and_no_server(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADFARM_KEY")
    no_key = leadfarm(capsys, "reps", "list")
    assert no_key.status == 2
    assert "no API key: set LEADFARM_KEY" in no_key.err

    monkeypatch.setenv("LEADFARM_KEY", "lf_000000000000_wrong")
    wrong = leadfarm(capsys, "reps", "list")
    assert wrong.status == 1
    assert "refused the key" in wrong.err

    monkeypatch.setenv("LEADFARM_KEY", ADMIN_KEY)
    nobody = f"http://127.0.0.1:{free_port()}"
    away = leadfarm(capsys, "reps", "list", "--url", nobody)
    assert away.status == 1
    assert f"cannot reach Leadfarm at {nobody}" in away.err


def test_the_installed_command_prints_no_traceback(world: World) -> None:
    env = {**os.environ, "LEADFARM_URL": world.url, "LEADFARM_KEY": ADMIN_KEY}
    result = subprocess.run(
        [LEADFARM, "leads", "show", "nope"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2
    assert result.stderr == "leadfarm: 'nope' is not a lead id (a UUID)\n"
