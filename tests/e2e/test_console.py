"""The revenue-operations console (`/console`) in headless Chromium, end to end: a manager
signs in, adds a rep (a bad time zone is named next to its field first), suspends one with
a reason, sees a suspended rep's reason and reinstates them, asks where a lead would go,
moves a rule before another, edits conditions (named ones, then converted to groups; each
mistake shown at the condition the API names), runs a backtest over the leads of the test
and sees the comparison, activates, rolls a rule back, asks again and gets the other pool,
edits the qualification definitions (a mistake is marked at its line, and the diff shows
it), backtests and activates them, reads a nurture track's time line, and then a real lead
posted to ingest follows the reordered rule. Every request the page makes stays on this
origin and the page's policy is the strict one. An admin also sees keys and sources; a rep
key is told why it cannot open the console. An admin adds a HubSpot connector (a local fake
of HubSpot's API), runs its account sync from the page, gives a rep the HubSpot owner id
the sync reported unmatched, and the next sync gives that rep the account.

Chromium and the server are driven as in tests/e2e/test_dashboard.py (the DevTools protocol
over a pipe; `create_app` under uvicorn on a free port). Set LEADFARM_CONSOLE_SCREENSHOTS to
a directory (docs/) to keep the screenshots there as console-<page>.png.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from audit.dashboard import CSP
from router import repository
from tests import infra
from tests.backends import ADMIN, ADMIN_KEY
from tests.e2e.test_dashboard import Chromium, Page, Served, type_key
from tests.fakes.hubspot import FakeHubSpot

pytestmark = pytest.mark.e2e

ALL_WEEK = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
SUSPENSION = "3 of 10 SLA obligations met since 2026-11-01 00:00 UTC (30%), below 80%"
DE_LEAD = {"country": "DE", "employees": 200, "company": "Kiefer GmbH"}
SALES_READY = {
    "source": "website",
    "timeframe_days": 30,
    "asked_to_be_contacted": True,
    "first_name": "Dana",
    "last_name": "Lee",
    **DE_LEAD,
}


def wait_until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.2)


@dataclass(frozen=True)
class Seeded:
    manager_key: str
    manager_key_id: str
    rep_key: str
    earlier_lead: str


def seed(served: Served) -> Seeded:
    """Three reps (one suspended by the router), two pools, two rules that both match a
    German lead (`r-emea`, tried first, to Ana, and `r-dach`, to Bo), one for the US."""
    with httpx.Client(base_url=served.base, headers=ADMIN, timeout=30) as http:

        def ok(response: httpx.Response) -> dict[str, Any]:
            assert response.status_code in (200, 201, 202), response.text
            answer: dict[str, Any] = response.json()
            return answer

        for rep_id in ("ana", "bo", "dee"):
            ok(
                http.post(
                    "/router/v1/reps",
                    json={
                        "id": rep_id,
                        "name": rep_id.title(),
                        "email": f"{rep_id}@example.com",
                        "working_hours": ALL_WEEK,
                    },
                )
            )
        for pool, member in (("emea", "ana"), ("dach", "bo")):
            ok(
                http.put(
                    f"/router/v1/pools/{pool}",
                    json={"name": pool.upper(), "members": [member], "outside_hours": "assign"},
                )
            )
        ok(
            http.put(
                "/router/v1/rules/r-emea",
                json={
                    "name": "Europe",
                    "position": 10,
                    "pool": "emea",
                    "conditions": {"countries": ["DE", "AT", "FR"]},
                },
            )
        )
        ok(
            http.put(
                "/router/v1/rules/r-dach",
                json={
                    "name": "Germany",
                    "position": 20,
                    "pool": "dach",
                    "conditions": {"countries": ["DE"]},
                },
            )
        )
        ok(http.put("/ingest/v1/sources/website", json={"provider": "form", "secrets": {}}))
        # Tied with Germany's position (ties are tried by id), so moving a rule renumbers.
        ok(
            http.put(
                "/router/v1/rules/r-us",
                json={
                    "name": "United States",
                    "position": 20,
                    "pool": "emea",
                    "conditions": {"countries": ["US"]},
                },
            )
        )
        # A long-term lead, to count on the nurture track's time line.
        later = ok(
            http.post(
                "/ingest/v1/leads",
                json={
                    "email": "sam@beta.example",
                    "company": "Beta Ltd",
                    "country": "GB",
                    "source": "webinar",
                    "timeframe_days": 270,
                },
            )
        )
        wait_until(lambda: http.get(f"/nurture/v1/leads/{later['lead_id']}").status_code == 200)
        # A German lead routed before the change (rule Europe, to Ana): the backtest's lead.
        earlier = ok(
            http.post(
                "/ingest/v1/leads",
                json={**SALES_READY, "email": "jo.kurz@kiefer.example", "phone": "030 7654321"},
            )
        )
        wait_until(
            lambda: any(
                e["type"] == "leadfarm.lead.qualified.v1"
                for e in http.get(f"/audit/v1/leads/{earlier['lead_id']}/timeline")
                .json()
                .get("events", [])
            )
        )
        manager = ok(http.post("/admin/v1/keys", json={"name": "rev ops", "scope": "manager"}))
        rep = ok(http.post("/admin/v1/keys", json={"name": "ana", "scope": "rep", "rep_id": "ana"}))

    async def suspend() -> None:
        async with served.runtime.units["router"].transaction() as tx:
            now = datetime.now(UTC)
            await repository.reps.update_rep(
                tx, "dee", {"suspended_at": now, "suspended_reason": SUSPENSION}
            )

    served.run(suspend())
    return Seeded(str(manager["key"]), str(manager["id"]), str(rep["key"]), earlier["lead_id"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Seeded]]:
    with Served(tmp_path_factory.mktemp("console") / "data") as running:
        yield running, seed(running)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        infra.unavailable("Chromium (the Debian package `chromium`)")
    assert binary is not None
    running = Chromium(binary, tmp_path)
    try:
        yield running
    finally:
        running.close()


# --- driving the page ----------------------------------------------------------------------


def open_console(browser: Chromium, served: Served, key: str) -> Page:
    page = Page(browser)
    page.send("Network.enable")
    page.send("Page.navigate", {"url": f"{served.base}/console"})
    page.wait_for("document.readyState === 'complete' && document.body.dataset.state")
    assert page.evaluate("document.body.dataset.state") == "signed-out"
    type_key(page, key)
    return page


def ready(page: Page, name: str) -> None:
    """Wait until page `name` has loaded."""
    state = page.wait_for(
        f"document.body.dataset.page === {json.dumps(name)} &&"
        " ['ready', 'error', 'signed-out'].includes(document.body.dataset.state)"
        " && document.body.dataset.state"
    )
    assert state == "ready", page.evaluate("document.getElementById('status').textContent")


def go(page: Page, name: str) -> None:
    page.evaluate(f"(() => {{ location.hash = {json.dumps(name)}; return true; }})()")
    ready(page, name)


def fill(page: Page, form: str, values: dict[str, str]) -> None:
    page.evaluate(
        "(() => { const f = document.getElementById("
        + json.dumps(form)
        + "); for (const [k, v] of Object.entries("
        + json.dumps(values)
        + ")) { const el = f.elements.namedItem(k); el.value = v;"
        " el.dispatchEvent(new Event('input', {bubbles: true})); } return true; })()"
    )


def submit(page: Page, form: str) -> None:
    page.evaluate(f"document.getElementById({json.dumps(form)}).requestSubmit() || true")


def click(page: Page, selector: str) -> None:
    page.wait_for(f"Boolean(document.querySelector({json.dumps(selector)}))")
    page.evaluate(f"document.querySelector({json.dumps(selector)}).click() || true")


def text(page: Page, selector: str) -> str:
    found: str = page.evaluate(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")
    return found


def rule_order(page: Page) -> list[str]:
    order: list[str] = json.loads(
        page.evaluate(
            "JSON.stringify([...document.querySelectorAll('#rules-list li[data-rule]')]"
            ".map(li => li.dataset.rule))"
        )
    )
    return order


def dry_run(page: Page) -> dict[str, str]:
    page.evaluate("document.getElementById('dry-result').removeAttribute('data-rule') || true")
    submit(page, "dry-form")
    page.wait_for("document.getElementById('dry-result').dataset.rule")
    found: dict[str, str] = json.loads(
        page.evaluate("JSON.stringify({...document.getElementById('dry-result').dataset})")
    )
    return found


def backtest_definitions(page: Page) -> None:
    """Backtest the definitions' draft over the last 30 days and wait for the comparison."""
    page.evaluate(
        "(() => { delete document.getElementById('def-bt-out').dataset.job; return true; })()"
    )
    click(page, "#def-backtest")
    page.wait_for("document.getElementById('def-bt-out').dataset.job")
    assert not page.evaluate("document.getElementById('def-activate').disabled")
    assert int(page.evaluate("document.getElementById('def-bt-out').dataset.leads")) >= 1


def set_test(page: Page, path: str, field: str, op: str, value: str) -> None:
    """Give the condition editor's test at `path` a field, an operator and a value."""
    node = json.dumps(f'#condition-groups .cond-test[data-field="{path}"]')
    page.wait_for(f"Boolean(document.querySelector({node}))")
    page.evaluate(
        f"(() => {{ const t = document.querySelector({node});"
        f" t.querySelector('.c-field').value = {json.dumps(field)};"
        f" const op = t.querySelector('.c-op'); op.value = {json.dumps(op)};"
        " op.dispatchEvent(new Event('change'));"
        f" t.querySelector('.c-value').value = {json.dumps(value)}; return true; }})()"
    )


def page_errors(page: Page) -> list[str]:
    """Script errors; refused API calls (a 422 shown to the user, the admin probe's 403) are
    logged by Chromium as network errors and are part of the walk-through."""
    return [e for e in page.errors() if not e.startswith("network:")]


def keep(page: Page, tmp_path: Path, name: str) -> None:
    shot = tmp_path / f"console-{name}.png"
    page.screenshot(shot)
    page.resize(1440, 1000)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    where = os.environ.get("LEADFARM_CONSOLE_SCREENSHOTS")
    if where:
        shutil.copyfile(shot, Path(where) / shot.name)


def api(served: Served, method: str, path: str, **kwargs: Any) -> Any:
    with httpx.Client(base_url=served.base, headers=ADMIN, timeout=30) as http:
        response = http.request(method, path, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


# --- the walk-through ---------------------------------------------------------------------


def test_a_manager_changes_reps_rules_and_definitions_and_the_next_lead_follows(
    browser: Chromium, served: tuple[Served, Seeded], tmp_path: Path
) -> None:
    server, facts = served
    page = open_console(browser, server, facts.manager_key)
    ready(page, "reps")
    assert page.evaluate("document.getElementById('admin-tab').hidden"), "a manager key"
    assert page.evaluate("document.getElementById('connectors-tab').hidden"), "admin only"
    assert (
        page.evaluate("location.href") == f"{server.base}/console#reps"
        or page.evaluate("location.href") == f"{server.base}/console"
    ), "the key never goes into the URL"

    # A suspended rep shows the router's reason, and is reinstated with the manager's.
    row = text(page, '#reps-table tr[data-id="dee"]')
    assert "Suspended" in row, row
    assert SUSPENSION in row, row

    # Add a rep: a time zone that does not exist is named next to its field.
    click(page, "#rep-new")
    fill(
        page,
        "rep-form",
        {
            "id": "cy",
            "name": "Cy Berg",
            "email": "cy@example.com",
            "time_zone": "Mars/Olympus",
            "territories": "DE, AT",
            "languages": "de, en",
            "weight": "2",
            "max_open_leads": "5",
            "daily_cap": "3",
            "hours-sat": "10:00-14:00",
        },
    )
    submit(page, "rep-form")
    said = page.wait_for(
        "(() => { const e = document.querySelector('#rep-form .field-error');"
        " return e && e.previousElementSibling.dataset.field + ' | ' + e.textContent; })()"
    )
    assert said.startswith("time_zone | time_zone:"), said
    assert "Mars/Olympus" in said, said
    fill(page, "rep-form", {"time_zone": "Europe/Berlin"})
    submit(page, "rep-form")
    page.wait_for("Boolean(document.querySelector('#reps-table tr[data-id=\"cy\"]'))")
    assert page.evaluate("document.getElementById('rep-form').hidden")
    cy = api(server, "GET", "/router/v1/reps/cy")
    assert (cy["time_zone"], cy["weight"], cy["max_open_leads"], cy["daily_cap"]) == (
        "Europe/Berlin",
        2,
        5,
        3,
    )
    assert (cy["territories"], cy["languages"]) == (["DE", "AT"], ["de", "en"])
    assert cy["working_hours"]["sat"] == ["10:00-14:00"]
    assert cy["working_hours"]["mon"] == ["09:00-17:00"]
    keep(page, tmp_path, "reps")

    # Edit the rep: an out-of-office period, entered in the browser's time zone (UTC here).
    click(page, '#reps-table tr[data-id="cy"] button[data-action="edit"]')
    click(page, "#rep-ooo-add")
    page.evaluate(
        "(() => { const row = document.getElementById('rep-ooo').lastElementChild;"
        " row.querySelector('.ooo-start').value = '2030-07-01T00:00';"
        " row.querySelector('.ooo-end').value = '2030-07-15T00:00';"
        " row.querySelector('.ooo-reason').value = 'summer'; return true; })()"
    )
    submit(page, "rep-form")
    page.wait_for("document.getElementById('rep-form').hidden")
    [away] = api(server, "GET", "/router/v1/reps/cy")["out_of_office"]
    assert away["reason"] == "summer"
    assert datetime.fromisoformat(away["start"]) == datetime(2030, 7, 1, tzinfo=UTC)

    # Suspend a rep by hand, with a reason: shown with who did it.
    click(page, '#reps-table tr[data-id="cy"] button[data-action="suspend"]')
    submit(page, "suspend-form")
    said = page.wait_for("document.querySelector('#suspend-form .field-error')?.dataset.for")
    assert said == "reason"
    fill(page, "suspend-form", {"reason": "onboarding until Friday"})
    submit(page, "suspend-form")
    page.wait_for(
        "Boolean(document.querySelector("
        + json.dumps('#reps-table tr[data-id="cy"] [data-action="reinstate"]')
        + "))"
    )
    row = text(page, '#reps-table tr[data-id="cy"]')
    assert "Suspended" in row, row
    assert "by rev ops" in row, row
    assert "onboarding until Friday" in row, row
    assert (
        api(server, "GET", "/router/v1/reps/cy")["suspended_by"]["key_id"] == facts.manager_key_id
    )

    click(page, '#reps-table tr[data-id="dee"] button[data-action="reinstate"]')
    assert SUSPENSION in text(page, "#reinstate-why")
    fill(page, "reinstate-form", {"reason": "coached; back from Monday"})
    submit(page, "reinstate-form")
    page.wait_for(
        '!document.querySelector(\'#reps-table tr[data-id="dee"] [data-action="reinstate"]\')'
    )
    assert api(server, "GET", "/router/v1/reps/dee")["suspended"] is False

    # Where would a German lead go? The first matching rule, Europe, to Ana.
    go(page, "dry-run")
    fill(page, "dry-form", {"country": "DE", "employees": "200"})
    first = dry_run(page)
    assert (first["rule"], first["pool"], first["rep"]) == ("r-emea", "emea", "ana"), first
    checked = text(page, "#dry-result .checked")
    assert "r-emea: matched" in checked

    # Move "Germany" before "Europe": a change not live yet.
    go(page, "rules")
    assert rule_order(page) == ["r-emea", "r-dach", "r-us"]
    assert page.evaluate("Boolean(document.querySelector('[data-edge=\"rule:r-dach>pool:dach\"]'))")
    assert page.evaluate(
        "Boolean(document.querySelector('[data-edge=\"strategy:dach>rep:bo\"]'))"
    ), "the graph goes rule -> pool -> strategy -> reps"
    click(page, '#rules-list li[data-rule="r-dach"] button[data-action="up"]')
    page.wait_for("document.querySelector('#rules-list li[data-rule]')?.dataset.rule === 'r-dach'")
    assert rule_order(page) == ["r-dach", "r-emea", "r-us"]
    assert "Rule r-dach: position 20 → 10" in text(page, "#draft-list")
    assert page.evaluate("document.getElementById('rules-activate').disabled"), "backtest first"
    live = [(r["id"], r["position"]) for r in api(server, "GET", "/router/v1/rules")]
    assert live == [("r-emea", 10), ("r-dach", 20), ("r-us", 20)], "nothing live changed yet"

    # Edit a rule's named conditions: a country code that is not one is named next to its
    # field when the backtest validates the changes.
    click(page, '#rules-list li[data-rule="r-us"] button[data-action="edit"]')
    assert not page.evaluate("document.getElementById('named-conditions').hidden")
    fill(page, "rule-form", {"countries": "USA"})
    submit(page, "rule-form")
    click(page, "#rules-backtest")
    said = page.wait_for("document.querySelector('#rule-form .field-error')?.dataset.for")
    assert said == "conditions.countries"
    assert (
        page.evaluate(
            "document.querySelector('#rule-form .field-error').previousElementSibling.dataset.field"
        )
        == "conditions.countries"
    )
    fill(page, "rule-form", {"countries": "US, CA", "employees_min": "50"})
    # Convert them to a group, and add a group whose test is wrong: shown at that test.
    click(page, "#conditions-convert")
    page.wait_for("document.querySelectorAll('#condition-groups .cond-test').length === 2")
    click(page, "#condition-groups .c-add-group")
    set_test(page, "conditions.all.2.any.0", "employees", "contains", "many")
    submit(page, "rule-form")
    assert "if country in ['US', 'CA'] and employees at least 50 and employees contains" in text(
        page, '#rules-list li[data-rule="r-us"]'
    )
    click(page, "#rules-backtest")
    said = page.wait_for("document.querySelector('#rule-form .field-error')?.dataset.for")
    assert said == "conditions.all.2.any.0.op", said
    assert (
        page.evaluate(
            "document.querySelector('#rule-form .field-error').previousElementSibling.dataset.field"
        )
        == "conditions.all.2.any.0.op"
    )
    set_test(page, "conditions.all.2.any.0", "utm.utm_source", "in", "linkedin, google")
    submit(page, "rule-form")
    # Add a pool: a team that does not exist is named next to the teams field.
    click(page, "#pool-new")
    fill(page, "pool-form", {"pool_id": "nordics", "name": "Nordics", "teams": "vikings"})
    page.evaluate(
        "(() => { document.querySelector('#pool-members input[value=\"cy\"]').checked = true;"
        " document.getElementById('pool-form').elements.strategy.value = 'least_loaded';"
        " return true; })()"
    )
    submit(page, "pool-form")
    click(page, "#rules-backtest")
    said = page.wait_for("document.querySelector('#pool-form .field-error')?.dataset.for")
    assert said == "teams.0"
    fill(page, "pool-form", {"teams": "", "first_touch_minutes": "30"})
    submit(page, "pool-form")
    page.wait_for("Boolean(document.querySelector('#pools-table tr[data-id=\"nordics\"]'))")
    # Disable r-us, and it is drawn dashed in the graph.
    click(page, '#rules-list li[data-rule="r-us"] button[data-action="toggle"]')
    page.wait_for("Boolean(document.querySelector('#rules-list li[data-rule=\"r-us\"].disabled'))")
    assert page.evaluate(
        "document.querySelector('[data-node=\"rule:r-us\"]').classList.contains('disabled')"
    )

    # Backtest over the last 30 days (the default window): the German lead routed by
    # "Europe" to Ana would have gone by "Germany" to Bo.
    click(page, "#rules-backtest")
    page.wait_for("document.getElementById('rules-bt-out').dataset.job")
    assert page.evaluate("document.getElementById('rules-bt-progress').dataset.status") == "done"
    compared = json.loads(
        page.evaluate("JSON.stringify({...document.getElementById('rules-bt-out').dataset})")
    )
    assert int(compared["leads"]) >= 1
    assert int(compared["changed"]) >= 1
    moved = text(page, f'#rules-bt-out .bt-changes tr[data-lead="{facts.earlier_lead}"]')
    assert "r-emea → emea → Ana" in moved, moved
    assert "r-dach → dach → Bo" in moved, moved
    dach = text(page, '#rules-bt-out .bt-pools tr[data-key="dach"]')
    assert dach.split("\t")[1:3] == ["0", str(compared["changed"])], dach
    assert "Bo" in text(page, "#rules-bt-out .bt-load")
    assert "First-touch deadlines set" in text(page, "#rules-bt-out .bt-first-touch")
    job = page.evaluate("document.getElementById('rules-bt-out').dataset.job")
    kept = api(server, "GET", "/router/v1/backtests")
    assert job in [k["id"] for k in kept]
    assert job in page.evaluate(
        "[...document.querySelectorAll('#rules-backtests tr')].map(t => t.dataset.id).join(',')"
    )
    keep(page, tmp_path, "backtest")

    # Activate: the changes go live through the same PUT APIs, by the manager's key.
    click(page, "#rules-activate")
    page.wait_for("document.getElementById('rules-draft').hidden")
    rules = api(server, "GET", "/router/v1/rules")
    assert [(r["id"], r["position"]) for r in rules] == [
        ("r-dach", 10),
        ("r-emea", 20),
        ("r-us", 30),
    ]
    us = rules[2]
    assert us["enabled"] is False
    assert us["conditions"] == {
        "all": [
            {"field": "country", "op": "in", "value": ["US", "CA"]},
            {"field": "employees", "op": "greater_or_equal", "value": 50},
            {"any": [{"field": "utm.utm_source", "op": "in", "value": ["linkedin", "google"]}]},
        ]
    }
    assert us["changed_by"] == {"key_id": facts.manager_key_id, "name": "rev ops"}
    nordics = api(server, "GET", "/router/v1/pools/nordics")
    assert (nordics["members"], nordics["strategy"]) == (["cy"], "least_loaded")
    assert nordics["sla"]["first_touch_minutes"] == 30
    changes = text(page, "#changes")
    assert "Moved rule r-dach" in changes
    assert "Added pool nordics" in changes
    page.wait_for("document.getElementById('config-history').dataset.rows > 0")
    history = text(page, "#config-history")
    assert "rule r-us changed" in history
    assert "rev ops" in history
    keep(page, tmp_path, "rules")

    # Roll r-us back to the version before the console's change (named conditions, enabled)
    # and forth again; each rollback is a new version by the manager.
    before_us = max(
        v["version"]
        for v in api(server, "GET", "/router/v1/rules/history?rule=r-us")
        if v["changed_by"]["key_id"] != facts.manager_key_id
    )
    click(page, f'#config-history tr[data-id="{before_us}"] button[data-action="rollback-one"]')
    page.wait_for("!document.querySelector('#rules-list li[data-rule=\"r-us\"].disabled')")
    restored = api(server, "GET", "/router/v1/rules/r-us")
    assert (restored["enabled"], restored["conditions"]) == (True, {"countries": ["US"]})
    assert restored["changed_by"]["key_id"] == facts.manager_key_id
    assert "Rolled back rule r-us" in text(page, "#changes")
    # A kept backtest shows its comparison again.
    page.wait_for(f"Boolean(document.querySelector('#rules-backtests tr[data-id=\"{job}\"]'))")
    assert not page.evaluate("Boolean(document.getElementById('rules-bt-out').dataset.job)")
    click(page, f'#rules-backtests tr[data-id="{job}"] button[data-action="show"]')
    page.wait_for(f"document.getElementById('rules-bt-out').dataset.job === {json.dumps(job)}")
    assert facts.earlier_lead in text(page, "#rules-bt-out .bt-changes")

    # The same lead, pasted as JSON this time, now goes to Germany's pool.
    go(page, "dry-run")
    page.evaluate(
        "(() => { const f = document.getElementById('dry-form'); f.reset();"
        " const p = document.getElementById('dry-paste'); p.value = "
        + json.dumps(json.dumps(DE_LEAD))
        + "; p.dispatchEvent(new Event('change')); return true; })()"
    )
    assert page.evaluate("document.getElementById('dry-form').elements.country.value") == "DE"
    second = dry_run(page)
    assert (second["rule"], second["pool"], second["rep"]) == ("r-dach", "dach", "bo"), second
    keep(page, tmp_path, "dry-run")
    # A lead id the router does not know is named at the lead id field.
    fill(page, "dry-form", {"lead_id": "no-such-lead"})
    submit(page, "dry-form")
    said = page.wait_for("document.querySelector('#dry-form .field-error')?.dataset.for")
    assert said == "lead_id"
    assert page.evaluate("document.getElementById('dry-result').hidden")

    # Definitions: a key that does not exist is marked at its line.
    go(page, "definitions")
    active = page.evaluate("document.getElementById('def-text').value")
    lines = active.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("version:"))
    lines[at] = 'version: "console-test-2"'
    lines.insert(at + 1, "colour: blue")
    bad_line = at + 2
    page.evaluate(
        "(() => { const t = document.getElementById('def-text'); t.value = "
        + json.dumps("\n".join(lines))
        + "; t.dispatchEvent(new Event('input')); return true; })()"
    )
    assert page.evaluate("document.getElementById('def-activate').disabled"), "backtest first"
    click(page, "#def-backtest")
    marked = page.wait_for(
        "[...document.querySelectorAll('#def-gutter li.line-error')].map(li => li.dataset.line)"
        ".join(',')"
    )
    assert marked == str(bad_line)
    listed = text(page, "#def-errors")
    assert f"Line {bad_line}:" in listed, listed
    assert "colour is not a known key" in listed, listed
    click(page, "#def-diff")
    diff = text(page, "#def-diff-out")
    assert "+ colour: blue" in diff, diff
    assert '+ version: "console-test-2"' in diff, diff
    keep(page, tmp_path, "definitions")
    del lines[at + 1]
    page.evaluate(
        "(() => { const t = document.getElementById('def-text'); t.value = "
        + json.dumps("\n".join(lines))
        + "; t.dispatchEvent(new Event('input')); return true; })()"
    )
    backtest_definitions(page)
    assert "console-test-2 candidate" in text(page, "#def-bt-out .bt-summary")
    keep(page, tmp_path, "definitions-backtest")
    click(page, "#def-activate")
    page.wait_for("document.getElementById('def-active').textContent.includes('console-test-2')")
    assert f"changed by {facts.manager_key_id}" in text(page, "#def-active")
    history = api(server, "GET", "/qualifier/v1/definitions/history")
    assert (history[0]["version"], history[0]["changed_by"]) == (
        "console-test-2",
        facts.manager_key_id,
    )
    # Roll back: the shipped version's text, under a new name, activated like any change.
    shipped = history[1]["version"]
    page.wait_for(
        f'Boolean(document.querySelector(\'#def-history tr[data-id="{shipped}"]'
        ' [data-action="rollback"]\'))'
    )
    click(page, f'#def-history tr[data-id="{shipped}"] button[data-action="rollback"]')
    page.wait_for(f"document.getElementById('def-text').value.includes('{shipped}-restored-')")
    assert '- version: "console-test-2"' in text(page, "#def-diff-out")
    backtest_definitions(page)
    click(page, "#def-activate")
    page.wait_for(
        f"document.getElementById('def-active').textContent.includes('{shipped}-restored')"
    )
    restored = api(server, "GET", "/qualifier/v1/definitions")
    assert restored["version"].startswith(f"{shipped}-restored-")
    before = api(server, "GET", f"/qualifier/v1/definitions/history/{shipped}")["yaml"]
    changed = [
        (a, b)
        for a, b in zip(before.split("\n"), restored["yaml"].split("\n"), strict=True)
        if a != b
    ]
    assert len(changed) == 1, changed
    assert changed[0][1] == f'version: "{restored["version"]}"'

    # Nurture: a track's steps on a time line, with counts per step.
    go(page, "nurture")
    click(page, '#tracks-table tr[data-id="long-term-default"] button[data-action="open"]')
    page.wait_for("document.querySelectorAll('#timeline .step').length > 1")
    stats = api(server, "GET", "/nurture/v1/tracks/long-term-default/stats")
    drawn = json.loads(
        page.evaluate(
            "JSON.stringify([...document.querySelectorAll('#timeline [data-reached]')].map("
            "t => [Number(t.dataset.reached), Number(t.dataset.waiting)]))"
        )
    )
    assert drawn == [[s["reached"], s["waiting"]] for s in stats["steps"]]
    assert sum(reached + waiting for reached, waiting in drawn[:2]) >= 1, drawn
    # A step naming a template that does not exist is refused, next to that step's field.
    click(page, "#track-step-add")
    added = page.evaluate("document.getElementById('track-steps').children.length") - 1
    page.evaluate(
        "(() => { const row = document.getElementById('track-steps').lastElementChild;"
        " row.querySelector('.s-day').value = '120';"
        " row.querySelector('.s-template').value = 'no-such-template'; return true; })()"
    )
    submit(page, "track-form")
    said = page.wait_for("document.querySelector('#track-form .field-error')?.dataset.for")
    assert said == f"steps.{added}.template"
    assert (
        page.evaluate(
            "document.querySelector('#track-form .field-error')"
            ".previousElementSibling.dataset.field"
        )
        == f"steps.{added}.template"
    )
    page.evaluate("document.getElementById('track-steps').lastElementChild.remove() || true")
    fill(page, "track-form", {"name": "Long-term, everyone"})
    submit(page, "track-form")
    page.wait_for("document.getElementById('track-title').textContent.startsWith('Long-term, ev')")
    track = api(server, "GET", "/nurture/v1/tracks/long-term-default")
    assert (track["name"], track["origin"]) == ("Long-term, everyone", "api")
    assert track["changed_by"] == {"key_id": facts.manager_key_id, "name": "rev ops"}
    page.wait_for(
        "document.querySelector('#tracks-table tr[data-id=\"long-term-default\"]')"
        "?.innerText.includes('by rev ops')"
    )
    assert len(track["steps"]) == added
    keep(page, tmp_path, "nurture")

    # The next real lead follows the reordered rule.
    with httpx.Client(base_url=server.base, headers=ADMIN, timeout=30) as http:
        posted = http.post(
            "/ingest/v1/leads",
            json={
                "email": "dana.lee@kiefer.example",
                "phone": "030 1234567",
                "first_name": "Dana",
                "last_name": "Lee",
                "company": "Kiefer GmbH",
                "source": "website",
                "timeframe_days": 30,
                "asked_to_be_contacted": True,
                **DE_LEAD,
            },
        )
        assert posted.status_code == 202, posted.text
        lead_id = posted.json()["lead_id"]
        deadline = time.monotonic() + 60
        while True:
            found = http.get(f"/router/v1/leads/{lead_id}/assignment")
            if found.status_code == 200 and found.json().get("rep_id"):
                break
            assert time.monotonic() < deadline, found.text
            time.sleep(0.2)
    assert (found.json()["rule"], found.json()["pool"], found.json()["rep_id"]) == (
        "r-dach",
        "dach",
        "bo",
    )

    # Nothing left the origin, and the page's policy is the strict one.
    made = page.requests_sent()
    # data: URLs are no requests (Chromium's own date-picker icon is one).
    assert page.requests_elsewhere(server.base) == []
    assert any("/router/v1/route:dry-run" in url for url in made)
    served_page = httpx.get(f"{server.base}/console")
    assert served_page.headers["content-security-policy"] == CSP
    assert "connect-src 'self'" in CSP
    assert "script-src 'self'" in CSP
    assert "unsafe" not in CSP
    assert page_errors(page) == []


def test_an_admin_also_sees_keys_and_sources_and_a_rep_key_is_refused(
    browser: Chromium, served: tuple[Served, Seeded], tmp_path: Path
) -> None:
    server, facts = served
    page = open_console(browser, server, ADMIN_KEY)
    ready(page, "reps")
    assert not page.evaluate("document.getElementById('admin-tab').hidden")
    go(page, "admin")
    keys = text(page, "#keys-table")
    assert "rev ops" in keys
    assert "manager" in keys
    assert "/ingest/v1/webhooks/website" in text(page, '#sources-table tr[data-id="website"]')
    # A problem from the keys API is shown next to the field it names.
    fill(page, "key-new", {"name": "ana's phone", "scope": "rep", "rep_id": ""})
    submit(page, "key-new")
    said = page.wait_for("document.querySelector('#key-new .field-error')?.dataset.for")
    assert said == "rep_id"
    keep(page, tmp_path, "admin")
    assert page_errors(page) == []

    # On a phone, every page fits the screen; wide tables and drawings scroll in their card.
    page.resize(390, 800)
    for name in ("reps", "rules", "dry-run", "definitions", "nurture", "admin", "connectors"):
        go(page, name)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} is {overflow}px wider than a 390px screen"

    refused = Page(browser)
    refused.send("Page.navigate", {"url": f"{server.base}/console"})
    refused.wait_for("document.readyState === 'complete' && document.body.dataset.state")
    type_key(refused, facts.rep_key)
    message = refused.wait_for(
        "!document.getElementById('sign-in-error').hidden"
        " && document.getElementById('sign-in-error').textContent"
    )
    assert message.startswith("This is a rep key: it cannot open the console."), message
    assert refused.evaluate("sessionStorage.length") == 0, "a refused key is forgotten"


def test_an_admin_adds_a_hubspot_connector_syncs_accounts_and_sets_a_reps_owner_id(
    browser: Chromium,
    served: tuple[Served, Seeded],
    tmp_path: Path,
    serve_api: Callable[[ASGIApp], str],
) -> None:
    server, _ = served
    hubspot = FakeHubSpot(
        token="pat-na1-console-e2e-token-value", client_secret="console-e2e", owners=set()
    )
    base = serve_api(hubspot.app())
    hubspot.add_company("acme.example", "52147895", "Acme GmbH")
    page = open_console(browser, server, ADMIN_KEY)
    ready(page, "reps")
    assert not page.evaluate("document.getElementById('connectors-tab').hidden")
    go(page, "connectors")
    assert page.evaluate("document.getElementById('connectors-table').dataset.rows") == "0"

    # A mistake first: the API's problem is shown next to the settings.
    settings = {"api_base_url": base, "sync_accounts": True}
    click(page, "#connector-new")
    fill(
        page,
        "connector-form",
        {
            "connector_id": "hubspot",
            "kind": "hubspot",
            "settings": json.dumps({**settings, "colour": "red"}),
            "cred-access_token": hubspot.token,
            "cred-client_secret": "console-e2e-client-secret",
        },
    )
    submit(page, "connector-form")
    said = page.wait_for("document.querySelector('#connector-form .field-error')?.dataset.for")
    assert said == "settings.colour"
    fill(page, "connector-form", {"settings": json.dumps(settings)})
    submit(page, "connector-form")
    row = '#connectors-table tr[data-id="hubspot"]'
    page.wait_for(f"Boolean(document.querySelector({json.dumps(row)}))")
    assert "access_token: set" in text(page, row)
    assert "0 dead, 0 retrying" in text(page, row)
    assert hubspot.token not in page.evaluate("document.body.innerText")
    stored = api(server, "GET", "/router/v1/connectors/hubspot")
    assert (stored["kind"], stored["settings"], stored["active"]) == ("hubspot", settings, True)
    assert stored["credentials"] == {"access_token": "set", "client_secret": "set"}

    # Its account sync, run now: HubSpot's owner of acme.example is no rep's yet.
    def synced(*words: str) -> None:
        page.wait_for(
            f"(() => {{ const t = document.querySelector({json.dumps(row)})?.innerText || '';"
            f" return {json.dumps(list(words))}.every((w) => t.includes(w)); }})()"
        )

    click(page, f'{row} button[data-action="sync"]')
    synced("synced", "1 read", "owner 52147895 is no rep's: 1 account (acme.example)")
    keep(page, tmp_path, "connectors")

    # A rep's HubSpot owner id, set in the rep editor; the next sync gives them the account.
    go(page, "reps")
    click(page, '#reps-table tr[data-id="bo"] button[data-action="edit"]')
    fill(page, "rep-form", {"crm-hubspot": "52147895"})
    submit(page, "rep-form")
    wait_until(
        lambda: api(server, "GET", "/router/v1/reps/bo")["crm_owner_ids"] == {"hubspot": "52147895"}
    )
    page.wait_for(
        "document.querySelector('#reps-table tr[data-id=\"bo\"]')?.innerText"
        ".includes('hubspot 52147895')"
    )
    go(page, "connectors")
    click(page, f'{row} button[data-action="sync"]')
    synced("synced", "0 read")
    assert "no rep's" not in text(page, row)
    owners = {a["domain"]: a for a in api(server, "GET", "/router/v1/accounts")}
    assert (owners["acme.example"]["rep_id"], owners["acme.example"]["source"]) == (
        "bo",
        "connector",
    )

    # Edited without its credentials (kept), then deactivated.
    click(page, f'{row} button[data-action="edit"]')
    assert page.evaluate(
        "document.querySelector('#connector-form [name=cred-access_token]').placeholder"
    ).startswith("set")
    kept = {**settings, "on_return": "keep_owner"}
    fill(page, "connector-form", {"settings": json.dumps(kept)})
    submit(page, "connector-form")
    wait_until(lambda: api(server, "GET", "/router/v1/connectors/hubspot")["settings"] == kept)
    click(page, f'{row} button[data-action="toggle"]')
    wait_until(lambda: api(server, "GET", "/router/v1/connectors/hubspot")["active"] is False)
    assert api(server, "GET", "/router/v1/connectors/hubspot")["credentials"] == {
        "access_token": "set",
        "client_secret": "set",
    }
    assert page.requests_elsewhere(server.base) == []
    assert page_errors(page) == []
